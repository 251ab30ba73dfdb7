//! `Barrier`: `parties` callers wait until all have arrived, then all go on.
//!
//! Python's semantics — arrival indexes, `abort`, `reset`, a timeout breaks the barrier
//! for everyone — with one improvement: a waiter whose call is cancelled or whose
//! connection dies leaves the barrier instead of counting as a party (Python's dead
//! waiter keeps its place, and the barrier later trips with a ghost).

use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

use super::{args, encode, err, lock, methods, timeout};
use crate::connection::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::BARRIER;

methods! {
    WAIT = "wait",
    ABORT = "abort",
    RESET = "reset",
    PARTIES = "parties",
    N_WAITING = "n_waiting",
    BROKEN = "broken",
}

struct Waiter {
    id: u64,
    index: u64,
    /// Ok when the barrier trips, Err when it breaks.
    done: oneshot::Sender<Result<(), ()>>,
}

struct State {
    parties: u64,
    waiting: Vec<Waiter>,
    broken: bool,
    next_id: u64,
}

impl State {
    fn break_barrier(&mut self) {
        self.broken = true;
        for w in self.waiting.drain(..) {
            let _ = w.done.send(Err(()));
        }
    }
}

pub(crate) struct Barrier {
    default_timeout: Option<Duration>,
    state: Mutex<State>,
}

fn broken() -> RemoteError {
    err(RemoteErrorKind::BrokenBarrier, "the barrier is broken")
}

impl Barrier {
    pub(crate) fn create(bytes: &[u8], _ctx: &CallContext) -> Result<Barrier, RemoteError> {
        let (parties, t): (u64, Option<f64>) = args(bytes, "Barrier()")?;
        if parties == 0 {
            return Err(err(RemoteErrorKind::InvalidValue, "parties must be > 0"));
        }
        Ok(Barrier {
            default_timeout: timeout(t, "Barrier()")?,
            state: Mutex::new(State { parties, waiting: Vec::new(), broken: false, next_id: 0 }),
        })
    }

    fn wait(self: Arc<Self>, bytes: &[u8]) -> Step {
        let limit = match args::<(Option<f64>,)>(bytes, "wait").and_then(|(t,)| timeout(t, "wait")) {
            Ok(l) => l.or(self.default_timeout),
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if st.broken {
            return Step::Ready(Err(broken()));
        }
        let index = st.waiting.len() as u64;
        if index + 1 == st.parties {
            // The last arrival trips the barrier for everyone.
            for w in st.waiting.drain(..) {
                let _ = w.done.send(Ok(()));
            }
            return Step::Ready(encode(&index));
        }
        let (tx, rx) = oneshot::channel();
        st.next_id += 1;
        let id = st.next_id;
        st.waiting.push(Waiter { id, index, done: tx });
        drop(st);
        let mut guard = Guard { barrier: self, id, rx };
        Step::Pending(Box::pin(async move {
            let outcome = match limit {
                None => Some((&mut guard.rx).await),
                Some(d) => tokio::time::timeout(d, &mut guard.rx).await.ok(),
            };
            let result: StepResult = match outcome {
                Some(Ok(Ok(()))) => encode(&index),
                Some(_) => Err(broken()),
                None => {
                    // Timed out: the barrier breaks for everyone (Python's semantics),
                    // unless it tripped in the same instant.
                    let mut st = lock(&guard.barrier.state);
                    if st.waiting.iter().any(|w| w.id == id) {
                        st.waiting.retain(|w| w.id != id);
                        st.break_barrier();
                        Err(broken())
                    } else {
                        drop(st);
                        match guard.rx.try_recv() {
                            Ok(Ok(())) => encode(&index),
                            _ => Err(broken()),
                        }
                    }
                }
            };
            drop(guard);
            result
        }))
    }
}

/// A waiter; cancelled before the barrier trips, it leaves (without breaking it).
struct Guard {
    barrier: Arc<Barrier>,
    id: u64,
    rx: oneshot::Receiver<Result<(), ()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut st = lock(&self.barrier.state);
        let id = self.id;
        if let Some(at) = st.waiting.iter().position(|w| w.id == id) {
            st.waiting.remove(at);
            // Later arrivals move up one place.
            for (i, w) in st.waiting.iter_mut().enumerate() {
                w.index = i as u64;
            }
        }
    }
}

impl ServerObject for Barrier {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, _ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(TYPE_ID, m::NAMES, m::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let ready = |r| Step::Ready(r);
        match id {
            m::WAIT => self.wait(bytes),
            m::ABORT => ready(args::<()>(bytes, "abort").and_then(|()| {
                lock(&self.state).break_barrier();
                encode(&())
            })),
            m::RESET => ready(args::<()>(bytes, "reset").and_then(|()| {
                let mut st = lock(&self.state);
                // Waiters get BrokenBarrier; the barrier starts afresh.
                st.break_barrier();
                st.broken = false;
                encode(&())
            })),
            m::PARTIES => ready(args::<()>(bytes, "parties").and_then(|()| encode(&lock(&self.state).parties))),
            m::N_WAITING => {
                ready(args::<()>(bytes, "n_waiting").and_then(|()| encode(&(lock(&self.state).waiting.len() as u64))))
            }
            m::BROKEN => ready(args::<()>(bytes, "broken").and_then(|()| encode(&lock(&self.state).broken))),
            _ => ready(Err(err(RemoteErrorKind::NotExposed, "unknown Barrier method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        let st = lock(&self.state);
        Step::Ready(encode(&(st.parties, st.waiting.len() as u64, st.broken)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
