//! `Barrier`: `parties` callers wait until all have arrived, then all go on.
//!
//! Python's semantics — arrival indexes, `abort`, `reset`, a timeout breaks the barrier
//! for everyone — with one improvement: a waiter whose call is cancelled or whose
//! connection dies leaves the barrier instead of counting as a party (Python's dead
//! waiter keeps its place, and the barrier later trips with a ghost).

use manager_proto::builtin::barrier as ba;
use manager_proto::contract::Method;
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::waiters::{Outcome, Ticket, Wait, WaitQueue, Waiters};
use super::{args, encode, err, lock, new_args, reply, timeout};
use crate::object::CallContext;
use crate::object::{ServerObject, Step};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::BARRIER;

/// What a waiter gets: its arrival index when the barrier trips, or `Err` when it
/// breaks.
pub(crate) type Passage = Result<u64, ()>;

struct State {
    parties: u64,
    /// Those waiting, in arrival order: a waiter's index is its place when the barrier
    /// trips (one that left moves the later ones up).
    waiting: Waiters<(), Passage>,
    broken: bool,
}

impl State {
    fn break_barrier(&mut self) {
        self.broken = true;
        self.waiting.grant_all(|_, ()| Err(()));
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
        let (parties, t): (u64, Option<f64>) = new_args::<ba::New, _>(bytes, ba::NEW)?;
        if parties == 0 {
            return Err(err(RemoteErrorKind::InvalidValue, "parties must be > 0"));
        }
        Ok(Barrier {
            default_timeout: timeout(t, "Barrier()")?,
            state: Mutex::new(State { parties, waiting: Waiters::default(), broken: false }),
        })
    }

    fn wait(self: Arc<Self>, bytes: &[u8]) -> Step {
        let limit = match args::<ba::Wait, (Option<f64>,)>(bytes).and_then(|(t,)| timeout(t, ba::Wait::WHAT)) {
            Ok(l) => l.or(self.default_timeout),
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if st.broken {
            return Step::Ready(Err(broken()));
        }
        let index = st.waiting.len() as u64;
        if st.parties.checked_sub(index) == Some(1) {
            // The last arrival trips the barrier for everyone.
            st.waiting.grant_all(|n, ()| Ok(n));
            return Step::Ready(reply::<ba::Wait>(&index));
        }
        let wait = Wait::new(Arc::clone(&self), st.waiting.push(()));
        drop(st);
        Step::Pending(Box::pin(async move {
            match wait.until(limit).await {
                Outcome::Granted(Ok(index)) => reply::<ba::Wait>(&index),
                Outcome::Granted(Err(())) | Outcome::Refused => Err(broken()),
                Outcome::TimedOut => {
                    // It has left the queue; the barrier breaks for everyone (Python's
                    // semantics).
                    lock(&self.state).break_barrier();
                    Err(broken())
                }
            }
        }))
    }
}

/// A waiter cancelled before the barrier trips leaves (without breaking it); one
/// cancelled after has nothing to give back.
impl WaitQueue<Passage> for Barrier {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).waiting.remove(ticket);
    }

    fn give_back(&self, _: Passage) {}
}

impl ServerObject for Barrier {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, _ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(TYPE_ID, ba::NAMES, ba::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let ready = |r| Step::Ready(r);
        match id {
            ba::Wait::ID => self.wait(bytes),
            ba::Abort::ID => ready(args::<ba::Abort, _>(bytes).and_then(|()| {
                lock(&self.state).break_barrier();
                reply::<ba::Abort>(&())
            })),
            ba::Reset::ID => ready(args::<ba::Reset, _>(bytes).and_then(|()| {
                let mut st = lock(&self.state);
                // Waiters get BrokenBarrier; the barrier starts afresh.
                st.break_barrier();
                st.broken = false;
                reply::<ba::Reset>(&())
            })),
            ba::Parties::ID => {
                ready(args::<ba::Parties, _>(bytes).and_then(|()| reply::<ba::Parties>(&lock(&self.state).parties)))
            }
            ba::NWaiting::ID => ready(
                args::<ba::NWaiting, _>(bytes)
                    .and_then(|()| reply::<ba::NWaiting>(&(lock(&self.state).waiting.len() as u64))),
            ),
            ba::Broken::ID => {
                ready(args::<ba::Broken, _>(bytes).and_then(|()| reply::<ba::Broken>(&lock(&self.state).broken)))
            }
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
