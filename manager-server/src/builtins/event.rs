//! `Event`: a flag waiters block on until it is set.

use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::waiters::{Outcome, Ticket, Wait, WaitQueue, Waiters};
use super::{args, encode, err, lock, methods, timeout};
use crate::object::CallContext;
use crate::object::{ServerObject, Step};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::EVENT;

methods! {
    IS_SET = "is_set",
    SET = "set",
    CLEAR = "clear",
    WAIT = "wait",
}

/// What a waiter is told: the flag was set.
pub(crate) struct WasSet;

#[derive(Default)]
struct State {
    set: bool,
    waiters: Waiters<(), WasSet>,
}

pub(crate) struct Event {
    state: Mutex<State>,
}

impl Event {
    pub(crate) fn create(bytes: &[u8], _ctx: &CallContext) -> Result<Event, RemoteError> {
        let () = args(bytes, "Event()")?;
        Ok(Event { state: Mutex::new(State::default()) })
    }

    fn is_set(&self) -> bool {
        lock(&self.state).set
    }

    fn wait(self: Arc<Self>, bytes: &[u8]) -> Step {
        let limit = match args::<(Option<f64>,)>(bytes, "wait").and_then(|(t,)| timeout(t, "wait")) {
            Ok(l) => l,
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if st.set {
            return Step::Ready(encode(&true));
        }
        let wait = Wait::new(Arc::clone(&self), st.waiters.push(()));
        drop(st);
        Step::Pending(Box::pin(async move {
            let was_set = matches!(wait.until(limit).await, Outcome::Granted(WasSet));
            // Python's wait returns the flag as it is when the wait ends.
            encode(&(was_set || self.is_set()))
        }))
    }
}

impl WaitQueue<WasSet> for Event {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).waiters.remove(ticket);
    }

    fn give_back(&self, WasSet: WasSet) {}
}

impl ServerObject for Event {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, _ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(TYPE_ID, m::NAMES, m::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        match id {
            m::IS_SET => Step::Ready(args::<()>(bytes, "is_set").and_then(|()| encode(&self.is_set()))),
            m::SET => Step::Ready(args::<()>(bytes, "set").and_then(|()| {
                let mut st = lock(&self.state);
                st.set = true;
                st.waiters.grant_all(|_, ()| WasSet);
                encode(&())
            })),
            m::CLEAR => Step::Ready(args::<()>(bytes, "clear").and_then(|()| {
                lock(&self.state).set = false;
                encode(&())
            })),
            m::WAIT => self.wait(bytes),
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Event method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&self.is_set()))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
