//! `Semaphore` and `BoundedSemaphore`.
//!
//! Permits are counted per connection, so a connection that ends returns the permits it
//! still holds and the next waiters get them. A `BoundedSemaphore` refuses to be
//! released above its initial value.

use manager_proto::builtin::semaphore as s;
use manager_proto::contract::Method;
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::waiters::{Outcome, Ticket, Wait, WaitQueue, Waiters};
use super::{args, encode, err, lock, new_args, reply, reply_bytes, timeout};
use crate::object::CallContext;
use crate::object::{Reply, ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::SEMAPHORE;
pub(crate) const BOUNDED_TYPE_ID: &str = manager_proto::builtin::BOUNDED_SEMAPHORE;

/// A permit handed to a waiting connection (and counted as held by it).
pub(crate) struct Permit(u64);

struct State {
    /// Permits free to take.
    value: u64,
    /// Permits each connection holds. Every count is at least 1, and their sum plus
    /// `value` never exceeds `u64::MAX`: a permit is counted in one place at a time.
    held: HashMap<u64, u64>,
    /// Waiting acquires, by connection.
    waiters: Waiters<u64, Permit>,
}

impl State {
    /// One permit `conn` holds, taken off its count; false if it holds none.
    fn take_from(&mut self, conn: u64) -> bool {
        self.take_up_to(conn, 1) == 1
    }

    /// Up to `n` of the permits `conn` holds, taken off its count; how many.
    fn take_up_to(&mut self, conn: u64, n: u64) -> u64 {
        let Some(have) = self.held.get_mut(&conn) else { return 0 };
        let taken = n.min(*have);
        *have = have.saturating_sub(taken);
        if *have == 0 {
            self.held.remove(&conn);
        }
        taken
    }

    fn hold(&mut self, conn: u64) {
        let n = self.held.entry(conn).or_default();
        *n = n.saturating_add(1);
    }

    /// Whether `n` permits can come back without the pool's count overflowing (those
    /// that go to waiters do not enter the pool).
    fn room_for(&self, n: u64) -> Result<(), RemoteError> {
        let woken = n.min(self.waiters.len() as u64);
        match self.value.checked_add(n.saturating_sub(woken)) {
            Some(_) => Ok(()),
            None => Err(err(
                RemoteErrorKind::Overflow,
                format!("release({n}) would take the semaphore's value past {} (it is {})", u64::MAX, self.value),
            )),
        }
    }

    /// `n` permits come back (none of them counted anywhere now): to the oldest
    /// waiters, one each, then to the pool. The work is O(waiters woken), whatever `n`.
    /// The caller checked [`room_for`](Self::room_for); the pool saturates otherwise.
    fn give_back(&mut self, n: u64) {
        let woken = n.min(self.waiters.len() as u64);
        for _ in 0..woken {
            if let Some(conn) = self.waiters.grant_oldest(|&conn| Permit(conn)) {
                self.hold(conn);
            }
        }
        self.value = self.value.saturating_add(n.saturating_sub(woken));
    }
}

pub(crate) struct Semaphore {
    /// For a bounded one, the initial value.
    bound: Option<u64>,
    state: Mutex<State>,
}

impl Semaphore {
    fn new(bytes: &[u8], bounded: bool) -> Result<Semaphore, RemoteError> {
        let (value,): (u64,) = new_args::<s::New, _>(bytes, s::NEW)?;
        Ok(Semaphore {
            bound: bounded.then_some(value),
            state: Mutex::new(State { value, held: HashMap::new(), waiters: Waiters::default() }),
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

    /// One permit `conn` holds goes back (a grant undone).
    fn return_one(&self, conn: u64) {
        let mut st = lock(&self.state);
        if st.take_from(conn) {
            // Counted as held a moment ago, so the pool has room for it.
            st.give_back(1);
        }
    }

    /// A permit granted to `conn`, as a reply the connection can undo.
    fn granted(self: &Arc<Self>, conn: u64) -> StepResult {
        let me = Arc::clone(self);
        Ok(Reply::grant(reply_bytes::<s::Acquire>(&true)?, Box::new(move || me.return_one(conn))))
    }

    fn acquire(self: Arc<Self>, conn: u64, bytes: &[u8]) -> Step {
        let parsed = args::<s::Acquire, (bool, Option<f64>)>(bytes).and_then(|(blocking, t)| {
            if !blocking && t.is_some() {
                return Err(err(RemoteErrorKind::InvalidValue, "can't specify a timeout for a non-blocking call"));
            }
            Ok((blocking, timeout(t, s::Acquire::WHAT)?))
        });
        let (blocking, limit) = match parsed {
            Ok(p) => p,
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if let Some(value) = st.value.checked_sub(1) {
            st.value = value;
            st.hold(conn);
            drop(st);
            return Step::Ready(self.granted(conn));
        }
        if !blocking {
            return Step::Ready(reply::<s::Acquire>(&false));
        }
        let wait = Wait::new(Arc::clone(&self), st.waiters.push(conn));
        drop(st);
        Step::Pending(Box::pin(async move {
            match wait.until(limit).await {
                Outcome::Granted(Permit(_)) => self.granted(conn),
                Outcome::TimedOut | Outcome::Refused => reply::<s::Acquire>(&false),
            }
        }))
    }

    fn release(&self, conn: u64, bytes: &[u8]) -> StepResult {
        let (n,): (u64,) = args::<s::Release, _>(bytes)?;
        if n < 1 {
            return Err(err(RemoteErrorKind::InvalidValue, "n must be one or more"));
        }
        let mut st = lock(&self.state);
        if let Some(bound) = self.bound
            && st.value.checked_add(n).is_none_or(|v| v > bound)
        {
            return Err(err(RemoteErrorKind::InvalidValue, "Semaphore released too many times"));
        }
        st.room_for(n)?;
        // Whose permits come back: the caller's as far as it holds them, then other
        // holders' (Python lets anyone release), and past those they are new permits.
        // One step per holder, whatever `n`.
        let mut left = n.saturating_sub(st.take_up_to(conn, n));
        while left > 0 {
            let Some(other) = st.held.keys().next().copied() else { break };
            left = left.saturating_sub(st.take_up_to(other, left));
        }
        st.give_back(n);
        reply::<s::Release>(&())
    }
}

impl WaitQueue<Permit> for Semaphore {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).waiters.remove(ticket);
    }

    fn give_back(&self, Permit(conn): Permit) {
        self.return_one(conn);
    }
}

impl ServerObject for Semaphore {
    fn shared_type_id(&self) -> &str {
        self.type_id()
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(s::NAMES, s::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(self.type_id(), s::NAMES, s::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let conn = ctx.connection();
        match id {
            s::Acquire::ID => {
                ctx.on_disconnect(Arc::clone(&self) as Arc<dyn ServerObject>);
                self.acquire(conn, bytes)
            }
            s::Release::ID => Step::Ready(self.release(conn, bytes)),
            s::Value::ID => {
                Step::Ready(args::<s::Value, _>(bytes).and_then(|()| reply::<s::Value>(&lock(&self.state).value)))
            }
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Semaphore method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&lock(&self.state).value))
    }

    fn render(&self, _types: &[&str], out: &mut manager_proto::repr::Repr) {
        out.push(&format!("<{}: value={}>", self.type_id(), lock(&self.state).value));
    }

    fn holders(&self, out: &mut Vec<u64>) {
        out.extend(lock(&self.state).held.keys());
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }

    fn disconnected(&self, conn: u64) {
        let mut st = lock(&self.state);
        st.waiters.retain(|&waiter| waiter != conn);
        let n = st.held.remove(&conn).unwrap_or(0);
        // Counted in `held` a moment ago, so the pool has room for them.
        st.give_back(n);
    }
}
