//! Calls that wait: parked as futures polled by the connection's own task, cancelled by
//! the client's `Cancel`, answered when they finish; a panic in one becomes its answer.

use futures_util::FutureExt;
use futures_util::future::{AbortHandle, Abortable};
use manager_proto::dispatch::BoxFuture;
use manager_proto::{NO_RESPONSE, RemoteError, RemoteErrorKind, RequestId, Response};
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use super::{Aborted, Connection};
use crate::object::StepResult;

impl Connection {
    pub(super) fn finish_parked(&mut self, id: RequestId, result: Result<StepResult, Aborted>) {
        match result {
            Ok(r) => self.respond_result(id, r),
            Err(Aborted::Cancelled) => {}
            Err(Aborted::Panicked(what)) => {
                tracing::warn!(peer = %self.peer, "{what}");
                self.respond(id, Response::Error(RemoteError::new(RemoteErrorKind::Panicked, what)));
            }
        }
    }

    pub(super) fn park(&mut self, id: RequestId, fut: BoxFuture<'static, StepResult>, what: String) {
        let (handle, registration) = AbortHandle::new_pair();
        let fut = Abortable::new(AssertUnwindSafe(fut).catch_unwind(), registration).map(move |r| {
            let r = match r {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(payload)) => Err(Aborted::Panicked(format!("{what} {}", panic_message(&*payload)))),
                Err(_) => Err(Aborted::Cancelled),
            };
            (id, r)
        });
        if id != NO_RESPONSE
            && let Some(old) = self.parked.insert(id, handle)
        {
            // A client reusing a live id: the older call can no longer be answered.
            old.abort();
        }
        self.shared.stats.parked.fetch_add(1, Ordering::Relaxed);
        self.running.push(Box::pin(fut));
    }
}

pub(super) fn panicked(what: String) -> RemoteError {
    RemoteError::new(RemoteErrorKind::Panicked, what)
}

/// Runs `f`, turning a panic into a description of it.
pub(super) fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}

pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("panicked: {msg}")
}
