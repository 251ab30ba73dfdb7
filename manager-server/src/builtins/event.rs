//! `Event`: a flag waiters block on until it is set.

use manager_proto::builtin::event as e;
use manager_proto::contract::Method;
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::waiters::{Outcome, Ticket, Wait, WaitQueue, Waiters};
use super::watch::{Watched, Watchers};
use super::{args, encode, err, lock, new_args, reply, resolve, timeout};
use crate::object::CallContext;
use crate::object::{ServerObject, Step};
use manager_proto::stream::BoxSource;
use manager_proto::watch::EventChange;

pub(crate) const TYPE_ID: &str = manager_proto::builtin::EVENT;

/// What a waiter is told: the flag was set.
pub(crate) struct WasSet;

#[derive(Default)]
struct State {
    set: bool,
    waiters: Waiters<(), WasSet>,
}

pub(crate) struct Event {
    state: Mutex<State>,
    watchers: Watchers,
}

impl Event {
    pub(crate) fn create(bytes: &[u8], _ctx: &CallContext) -> Result<Event, RemoteError> {
        let () = new_args::<e::New, _>(bytes, e::NEW)?;
        Ok(Event { state: Mutex::new(State::default()), watchers: Watchers::default() })
    }

    fn is_set(&self) -> bool {
        lock(&self.state).set
    }

    fn wait(self: Arc<Self>, bytes: &[u8]) -> Step {
        let limit = match args::<e::Wait, (Option<f64>,)>(bytes).and_then(|(t,)| timeout(t, e::Wait::WHAT)) {
            Ok(l) => l,
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if st.set {
            return Step::Ready(reply::<e::Wait>(&true));
        }
        let wait = Wait::new(Arc::clone(&self), st.waiters.push(()));
        drop(st);
        Step::Pending(Box::pin(async move {
            let was_set = matches!(wait.until(limit).await, Outcome::Granted(WasSet));
            // Python's wait returns the flag as it is when the wait ends.
            reply::<e::Wait>(&(was_set || self.is_set()))
        }))
    }
}

impl WaitQueue<WasSet> for Event {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).waiters.remove(ticket);
    }

    fn give_back(&self, WasSet: WasSet) {}
}

impl Watched for Event {
    fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    fn snapshot(&self, id: u64, _ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
        let st = lock(&self.state);
        let events = self.watchers.resync(id, out);
        super::watch::encode_state(&st.set, out)?;
        Ok(events)
    }
}

impl ServerObject for Event {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(e::NAMES, e::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match resolve(TYPE_ID, e::NAMES, e::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        match id {
            e::IsSet::ID => Step::Ready(args::<e::IsSet, _>(bytes).and_then(|()| reply::<e::IsSet>(&self.is_set()))),
            e::Set::ID => Step::Ready(args::<e::Set, _>(bytes).and_then(|()| {
                let mut st = lock(&self.state);
                st.set = true;
                st.waiters.grant_all(|_, ()| WasSet);
                self.watchers.emit(ctx, || (EventChange::Set, Vec::new()));
                reply::<e::Set>(&())
            })),
            e::Clear::ID => Step::Ready(args::<e::Clear, _>(bytes).and_then(|()| {
                let mut st = lock(&self.state);
                st.set = false;
                self.watchers.emit(ctx, || (EventChange::Cleared, Vec::new()));
                reply::<e::Clear>(&())
            })),
            e::Wait::ID => self.wait(bytes),
            e::Watch::ID => Step::Ready(Err(super::stream_method(e::Watch::WHAT))),
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Event method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&self.is_set()))
    }

    fn open(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Result<BoxSource, RemoteError> {
        match resolve(TYPE_ID, e::NAMES, e::IDS, method)? {
            e::Watch::ID => {
                let () = args::<e::Watch, _>(bytes)?;
                Ok(Watchers::subscribe(self, ctx))
            }
            id => Err(super::not_a_stream("Event", e::NAMES, e::IDS, id)),
        }
    }

    fn render(&self, _types: &[&str], out: &mut manager_proto::repr::Repr) {
        out.push(if lock(&self.state).set { "<Event: set>" } else { "<Event: unset>" });
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
