//! `Lock` and `RLock`.
//!
//! An owner is a connection plus an id the client picks per task or thread, so an
//! `RLock` is re-entrant per task as Python's is per thread. When a connection ends,
//! every lock it holds is released and the next waiter gets it. A plain `Lock` may be
//! released by anyone (as Python's); an `RLock` only by its owner.

use manager_proto::builtin::lock as lk;
use manager_proto::contract::Method;
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::waiters::{Outcome, Ticket, Wait, WaitQueue, Waiters};
use super::{args, encode, err, lock, new_args, reply, reply_bytes, timeout};
use crate::object::CallContext;
use crate::object::{Reply, ServerObject, Step, StepResult};

pub(crate) const LOCK_TYPE_ID: &str = manager_proto::builtin::LOCK;
pub(crate) const RLOCK_TYPE_ID: &str = manager_proto::builtin::RLOCK;

/// Who holds or wants a lock: a connection and the client's owner id within it.
pub(crate) type Owner = (u64, u64);

/// One tenure of the lock: tells it from later ones, so an undo never releases someone
/// else's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tenure(u64);

struct Holder {
    owner: Owner,
    /// Acquisitions not yet released (above 1 only for an `RLock`).
    count: u32,
    tenure: Tenure,
}

#[derive(Default)]
struct State {
    holder: Option<Holder>,
    /// Waiting acquires, by owner; each is granted a tenure.
    waiters: Waiters<Owner, Tenure>,
    /// The last tenure granted. A `u64` counted once per acquisition cannot wrap.
    last_tenure: u64,
}

impl State {
    fn grant(&mut self, owner: Owner, count: u32) -> Tenure {
        self.last_tenure = self.last_tenure.wrapping_add(1);
        let tenure = Tenure(self.last_tenure);
        self.holder = Some(Holder { owner, count, tenure });
        tenure
    }

    /// The lock is free: give it to the oldest waiter.
    fn hand_off(&mut self) {
        self.holder = None;
        let next = Tenure(self.last_tenure.wrapping_add(1));
        if let Some(owner) = self.waiters.grant_oldest(|_| next) {
            // The tenure just sent.
            self.grant(owner, 1);
        }
    }
}

pub(crate) struct Lock {
    reentrant: bool,
    state: Mutex<State>,
}

fn too_deep() -> RemoteError {
    err(RemoteErrorKind::Overflow, "RLock acquired too many times (2^32 - 1 without a release)")
}

impl Lock {
    fn new(reentrant: bool, bytes: &[u8]) -> Result<Lock, RemoteError> {
        let () = new_args::<lk::New, _>(bytes, lk::NEW)?;
        Ok(Lock::fresh(reentrant))
    }

    pub(crate) fn fresh(reentrant: bool) -> Lock {
        Lock { reentrant, state: Mutex::new(State::default()) }
    }

    pub(crate) fn create_lock(bytes: &[u8], _ctx: &CallContext) -> Result<Lock, RemoteError> {
        Lock::new(false, bytes)
    }

    pub(crate) fn create_rlock(bytes: &[u8], _ctx: &CallContext) -> Result<Lock, RemoteError> {
        Lock::new(true, bytes)
    }

    fn type_id(&self) -> &'static str {
        if self.reentrant { RLOCK_TYPE_ID } else { LOCK_TYPE_ID }
    }

    /// Whether `owner` holds the lock.
    pub(crate) fn owned_by(&self, owner: Owner) -> bool {
        lock(&self.state).holder.as_ref().is_some_and(|h| h.owner == owner)
    }

    /// Takes the lock now if possible (`Ok(Ok(tenure))`); otherwise, when `wait`, queues
    /// `owner` (`Ok(Err(wait))`) in the same critical section, so a release in between
    /// cannot be missed.
    #[allow(clippy::type_complexity)]
    fn try_acquire(
        self: &Arc<Self>,
        owner: Owner,
        wait: bool,
    ) -> Result<Result<Tenure, Option<Wait<Lock, Tenure>>>, RemoteError> {
        let mut st = lock(&self.state);
        match &mut st.holder {
            None => Ok(Ok(st.grant(owner, 1))),
            Some(h) if self.reentrant && h.owner == owner => {
                h.count = h.count.checked_add(1).ok_or_else(too_deep)?;
                Ok(Ok(h.tenure))
            }
            Some(_) if wait => Ok(Err(Some(Wait::new(Arc::clone(self), st.waiters.push(owner))))),
            Some(_) => Ok(Err(None)),
        }
    }

    /// Waits for the lock (until `limit`): `Some(tenure)` once held, `None` on timeout.
    /// Dropped while waiting, it withdraws; granted but dropped, it passes the lock on.
    pub(crate) async fn acquire_wait(self: Arc<Self>, owner: Owner, limit: Option<Duration>) -> Option<Tenure> {
        match self.try_acquire(owner, true) {
            Ok(Ok(tenure)) => Some(tenure),
            Ok(Err(Some(wait))) => match wait.until(limit).await {
                Outcome::Granted(tenure) => Some(tenure),
                Outcome::TimedOut | Outcome::Refused => None,
            },
            Ok(Err(None)) | Err(_) => None,
        }
    }

    /// Releases one acquisition by `owner`.
    pub(crate) fn release(&self, owner: Owner) -> Result<(), RemoteError> {
        let mut st = lock(&self.state);
        let Some(h) = &mut st.holder else {
            let msg = if self.reentrant { "cannot release un-acquired lock" } else { "release unlocked lock" };
            return Err(err(RemoteErrorKind::NotOwner, msg));
        };
        if self.reentrant && h.owner != owner {
            return Err(err(RemoteErrorKind::NotOwner, "cannot release un-acquired lock"));
        }
        if self.reentrant && h.count > 1 {
            h.count = h.count.saturating_sub(1);
        } else {
            st.hand_off();
        }
        Ok(())
    }

    /// Releases every acquisition by `owner` (a condition's `wait`); returns how many.
    pub(crate) fn release_all(&self, owner: Owner) -> Result<u32, RemoteError> {
        let mut st = lock(&self.state);
        match &st.holder {
            Some(h) if h.owner == owner => {
                let count = h.count;
                st.hand_off();
                Ok(count)
            }
            _ => Err(err(RemoteErrorKind::NotOwner, "cannot release un-acquired lock")),
        }
    }

    /// Sets the acquisition count of a tenure just granted (a condition restoring an
    /// `RLock`'s depth after `wait`).
    pub(crate) fn set_count(&self, tenure: Tenure, count: u32) {
        if let Some(h) = &mut lock(&self.state).holder
            && h.tenure == tenure
        {
            h.count = count.max(1);
        }
    }

    /// Undoes one acquisition of `tenure`, if that tenure still holds the lock.
    pub(crate) fn undo(&self, tenure: Tenure) {
        let mut st = lock(&self.state);
        if let Some(h) = &mut st.holder
            && h.tenure == tenure
        {
            if h.count > 1 {
                h.count = h.count.saturating_sub(1);
            } else {
                st.hand_off();
            }
        }
    }

    /// A granted acquisition as a reply the connection can undo.
    pub(crate) fn granted<M: Method<Reply = bool>>(self: &Arc<Self>, tenure: Tenure) -> StepResult {
        let me = Arc::clone(self);
        Ok(Reply::grant(reply_bytes::<M>(&true)?, Box::new(move || me.undo(tenure))))
    }

    fn acquire(self: Arc<Self>, owner: Owner, bytes: &[u8]) -> Step {
        let parsed = args::<lk::Acquire, (u64, bool, Option<f64>)>(bytes).and_then(|(_, blocking, t)| {
            if !blocking && t.is_some() {
                return Err(err(RemoteErrorKind::InvalidValue, "can't specify a timeout for a non-blocking call"));
            }
            Ok((blocking, timeout(t, lk::Acquire::WHAT)?))
        });
        let (blocking, limit) = match parsed {
            Ok(p) => p,
            Err(e) => return Step::Ready(Err(e)),
        };
        match self.try_acquire(owner, blocking) {
            Err(e) => Step::Ready(Err(e)),
            Ok(Ok(tenure)) => Step::Ready(self.granted::<lk::Acquire>(tenure)),
            Ok(Err(None)) => Step::Ready(reply::<lk::Acquire>(&false)),
            Ok(Err(Some(wait))) => Step::Pending(Box::pin(async move {
                match wait.until(limit).await {
                    Outcome::Granted(tenure) => self.granted::<lk::Acquire>(tenure),
                    Outcome::TimedOut | Outcome::Refused => reply::<lk::Acquire>(&false),
                }
            })),
        }
    }
}

impl WaitQueue<Tenure> for Lock {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).waiters.remove(ticket);
    }

    fn give_back(&self, tenure: Tenure) {
        self.undo(tenure);
    }
}

/// Owner id from the first argument of an owner-aware call.
pub(crate) fn owner_of(ctx: &CallContext, bytes: &[u8]) -> Owner {
    // Every owner-aware method's first argument is the client's owner id (a u64).
    let id = postcard::take_from_bytes::<u64>(bytes).map(|(v, _)| v).unwrap_or(0);
    (ctx.connection(), id)
}

impl ServerObject for Lock {
    fn shared_type_id(&self) -> &str {
        self.type_id()
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(lk::NAMES, lk::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(self.type_id(), lk::NAMES, lk::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let owner = owner_of(ctx, bytes);
        match id {
            lk::Acquire::ID => {
                ctx.on_disconnect(Arc::clone(&self) as Arc<dyn ServerObject>);
                self.acquire(owner, bytes)
            }
            lk::Release::ID => Step::Ready(
                args::<lk::Release, (u64,)>(bytes)
                    .and_then(|_| self.release(owner))
                    .and_then(|()| reply::<lk::Release>(&())),
            ),
            lk::Locked::ID => Step::Ready(
                args::<lk::Locked, (u64,)>(bytes)
                    .and_then(|_| reply::<lk::Locked>(&lock(&self.state).holder.is_some())),
            ),
            lk::Owned::ID => {
                Step::Ready(args::<lk::Owned, (u64,)>(bytes).and_then(|_| reply::<lk::Owned>(&self.owned_by(owner))))
            }
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Lock method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&lock(&self.state).holder.is_some()))
    }

    fn render(&self, _types: &[&str], out: &mut manager_proto::repr::Repr) {
        let text = match &lock(&self.state).holder {
            Some(h) if self.reentrant => {
                format!("<{}: locked by connection {}, count={}>", self.type_id(), h.owner.0, h.count)
            }
            Some(h) => format!("<{}: locked by connection {}>", self.type_id(), h.owner.0),
            None => format!("<{}: unlocked>", self.type_id()),
        };
        out.push(&text);
    }

    fn holders(&self, out: &mut Vec<u64>) {
        out.extend(lock(&self.state).holder.as_ref().map(|h| h.owner.0));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }

    fn disconnected(&self, conn: u64) {
        let mut st = lock(&self.state);
        st.waiters.retain(|owner| owner.0 != conn);
        if st.holder.as_ref().is_some_and(|h| h.owner.0 == conn) {
            st.hand_off();
        }
    }
}
