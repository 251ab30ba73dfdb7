//! `Event`: a flag waiters block on until it is set.

use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::Arc;
use tokio::sync::watch;

use super::{args, encode, err, methods, timeout};
use crate::connection::CallContext;
use crate::object::{ServerObject, Step};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::EVENT;

methods! {
    IS_SET = "is_set",
    SET = "set",
    CLEAR = "clear",
    WAIT = "wait",
}

pub(crate) struct Event {
    flag: watch::Sender<bool>,
}

impl Event {
    pub(crate) fn create(bytes: &[u8], _ctx: &CallContext) -> Result<Event, RemoteError> {
        let () = args(bytes, "Event()")?;
        Ok(Event { flag: watch::Sender::new(false) })
    }
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
            m::IS_SET => Step::Ready(args::<()>(bytes, "is_set").and_then(|()| encode(&*self.flag.borrow()))),
            m::SET => Step::Ready(args::<()>(bytes, "set").and_then(|()| {
                self.flag.send_replace(true);
                encode(&())
            })),
            m::CLEAR => Step::Ready(args::<()>(bytes, "clear").and_then(|()| {
                self.flag.send_replace(false);
                encode(&())
            })),
            m::WAIT => {
                let limit = match args::<(Option<f64>,)>(bytes, "wait").and_then(|(t,)| timeout(t, "wait")) {
                    Ok(l) => l,
                    Err(e) => return Step::Ready(Err(e)),
                };
                if *self.flag.borrow() {
                    return Step::Ready(encode(&true));
                }
                let mut rx = self.flag.subscribe();
                Step::Pending(Box::pin(async move {
                    let set = async { rx.wait_for(|set| *set).await.is_ok() };
                    let was_set = match limit {
                        None => set.await,
                        Some(d) => tokio::time::timeout(d, set).await.unwrap_or(false),
                    };
                    // Python's wait returns the flag as it is when the wait ends.
                    encode(&(was_set || *self.flag.borrow()))
                }))
            }
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Event method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&*self.flag.borrow()))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
