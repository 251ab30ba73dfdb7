//! `Semaphore` and `BoundedSemaphore`.
//!
//! Permits are counted per connection, so a connection that ends returns the permits it
//! still holds and the next waiters get them. A `BoundedSemaphore` refuses to be
//! released above its initial value.

use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use super::{args, encode, err, lock, methods, timeout};
use crate::connection::CallContext;
use crate::object::{Reply, ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::SEMAPHORE;
pub(crate) const BOUNDED_TYPE_ID: &str = manager_proto::builtin::BOUNDED_SEMAPHORE;

methods! {
    ACQUIRE = "acquire",
    RELEASE = "release",
    VALUE = "value",
}

struct Waiter {
    conn: u64,
    grant: oneshot::Sender<()>,
}

struct State {
    value: u64,
    /// Permits each connection holds.
    held: HashMap<u64, u64>,
    waiters: VecDeque<Waiter>,
}

impl State {
    fn take_from(&mut self, conn: u64) -> bool {
        match self.held.get_mut(&conn) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    self.held.remove(&conn);
                }
                true
            }
            _ => false,
        }
    }

    /// One permit comes back: to the oldest live waiter, or to the pool.
    fn give_back(&mut self) {
        while let Some(w) = self.waiters.pop_front() {
            if w.grant.send(()).is_ok() {
                *self.held.entry(w.conn).or_default() += 1;
                return;
            }
        }
        self.value += 1;
    }
}

pub(crate) struct Semaphore {
    /// For a bounded one, the initial value.
    bound: Option<u64>,
    state: Mutex<State>,
}

impl Semaphore {
    fn new(bytes: &[u8], bounded: bool) -> Result<Semaphore, RemoteError> {
        let (value,): (u64,) = args(bytes, "Semaphore()")?;
        Ok(Semaphore {
            bound: bounded.then_some(value),
            state: Mutex::new(State { value, held: HashMap::new(), waiters: VecDeque::new() }),
        })
    }

    pub(crate) fn create(bytes: &[u8], _ctx: &CallContext) -> Result<Semaphore, RemoteError> {
        Semaphore::new(bytes, false)
    }

    pub(crate) fn create_bounded(bytes: &[u8], _ctx: &CallContext) -> Result<Semaphore, RemoteError> {
        Semaphore::new(bytes, true)
    }

    fn type_id(&self) -> &'static str {
        if self.bound.is_some() { BOUNDED_TYPE_ID } else { TYPE_ID }
    }

    /// A permit granted to `conn`, as a reply the connection can undo.
    fn granted(self: &Arc<Self>, conn: u64) -> StepResult {
        let me = Arc::clone(self);
        let bytes = manager_proto::Reply::encode(&true, "a grant")
            .map_err(|e| err(RemoteErrorKind::Protocol, e.to_string()))?;
        Ok(Reply::grant(
            bytes,
            Box::new(move || {
                let mut st = lock(&me.state);
                if st.take_from(conn) {
                    st.give_back();
                }
            }),
        ))
    }

    fn acquire(self: Arc<Self>, conn: u64, bytes: &[u8]) -> Step {
        let parsed = args::<(bool, Option<f64>)>(bytes, "acquire").and_then(|(blocking, t)| {
            if !blocking && t.is_some() {
                return Err(err(RemoteErrorKind::InvalidValue, "can't specify a timeout for a non-blocking call"));
            }
            Ok((blocking, timeout(t, "acquire")?))
        });
        let (blocking, limit) = match parsed {
            Ok(p) => p,
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if st.value > 0 {
            st.value -= 1;
            *st.held.entry(conn).or_default() += 1;
            drop(st);
            return Step::Ready(self.granted(conn));
        }
        if !blocking {
            return Step::Ready(encode(&false));
        }
        let (tx, rx) = oneshot::channel();
        st.waiters.push_back(Waiter { conn, grant: tx });
        drop(st);
        let mut guard = Guard { sem: self, conn, rx };
        Step::Pending(Box::pin(async move {
            let granted = match limit {
                None => (&mut guard.rx).await.is_ok(),
                Some(d) => match tokio::time::timeout(d, &mut guard.rx).await {
                    Ok(r) => r.is_ok(),
                    Err(_) => {
                        guard.rx.close();
                        guard.rx.try_recv().is_ok()
                    }
                },
            };
            let sem = Arc::clone(&guard.sem);
            drop(guard);
            if granted { sem.granted(conn) } else { encode(&false) }
        }))
    }

    fn release(&self, conn: u64, bytes: &[u8]) -> StepResult {
        let (n,): (u64,) = args(bytes, "release")?;
        if n < 1 {
            return Err(err(RemoteErrorKind::InvalidValue, "n must be one or more"));
        }
        let mut st = lock(&self.state);
        if let Some(bound) = self.bound {
            if st.value + n > bound {
                return Err(err(RemoteErrorKind::InvalidValue, "Semaphore released too many times"));
            }
        }
        for _ in 0..n {
            // Whose permit comes back: the caller's if it holds one, else some holder's
            // (Python lets anyone release), else it is a new permit.
            if !st.take_from(conn) {
                if let Some(other) = st.held.keys().next().copied() {
                    st.take_from(other);
                }
            }
            st.give_back();
        }
        encode(&())
    }
}

/// A waiting acquire; granted but dropped, it gives the permit back.
struct Guard {
    sem: Arc<Semaphore>,
    conn: u64,
    rx: oneshot::Receiver<()>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.rx.close();
        if self.rx.try_recv().is_ok() {
            let mut st = lock(&self.sem.state);
            if st.take_from(self.conn) {
                st.give_back();
            }
        }
    }
}

impl ServerObject for Semaphore {
    fn shared_type_id(&self) -> &str {
        self.type_id()
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(self.type_id(), m::NAMES, m::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let conn = ctx.connection();
        match id {
            m::ACQUIRE => {
                ctx.on_disconnect(Arc::clone(&self) as Arc<dyn ServerObject>);
                self.acquire(conn, bytes)
            }
            m::RELEASE => Step::Ready(self.release(conn, bytes)),
            m::VALUE => Step::Ready(args::<()>(bytes, "value").and_then(|()| encode(&lock(&self.state).value))),
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Semaphore method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&lock(&self.state).value))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }

    fn disconnected(&self, conn: u64) {
        let mut st = lock(&self.state);
        st.waiters.retain(|w| w.conn != conn);
        let n = st.held.remove(&conn).unwrap_or(0);
        for _ in 0..n {
            st.give_back();
        }
    }
}
