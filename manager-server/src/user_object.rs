//! The adapter that hosts a `#[shared]` type as a [`ServerObject`].

use manager_proto::dispatch::{CallResult, Dispatch, MethodInfo, Outcome, Receiver};
use manager_proto::stream::BoxSource;
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::Arc;
use tokio::sync::RwLock;

use crate::local::ConnHost;
use crate::object::{CallContext, Reply, ServerObject, Step};
use manager_proto::hosting::{Host, InCall, object_key, run_in};

/// Hosts a `#[shared]` type: a readers-writer lock gives `&mut self` methods exclusive
/// access and lets `&self` methods run together.
///
/// A method that cannot take the lock at once, and every `async` method, runs as a
/// future that owns a guard; an `async fn(&self)` therefore keeps `&mut self` methods
/// waiting until it finishes (it holds a shared borrow for its whole run, as Rust's
/// rules require), while other `&self` methods and other objects go on.
pub(crate) struct UserObject<T> {
    /// The value, shared with in-flight futures that hold guards on it.
    lock: Arc<RwLock<T>>,
}

impl<T: Dispatch> UserObject<T> {
    pub(crate) fn new(value: T) -> Self {
        UserObject { lock: Arc::new(RwLock::new(value)) }
    }
}

fn not_a_future(info: &MethodInfo) -> RemoteError {
    RemoteError::new(RemoteErrorKind::Protocol, format!("synchronous method `{}` returned a future", info.name))
}

/// The host a call of `info` runs on: it runs as this object's (calls back into it
/// through a proxy are refused), on a host that hosts its `Shared<T>` results and
/// resolves its proxy arguments — unless its arguments and result hold no proxies: the
/// common call allocates nothing here.
fn host(ctx: &CallContext, info: &MethodInfo) -> Option<Arc<dyn Host>> {
    match ctx.hosting() {
        Some(hosting) if info.hosted => Some(Arc::new(ConnHost::new(ctx.clone(), Arc::clone(hosting)))),
        _ => None,
    }
}

fn finish_sync(outcome: Outcome<'_>, info: &MethodInfo) -> CallResult {
    match outcome {
        Outcome::Ready(r) => r,
        Outcome::Pending(_) => Err(not_a_future(info)),
    }
}

impl<T: Dispatch> ServerObject for UserObject<T> {
    fn shared_type_id(&self) -> &str {
        T::shared_type_id()
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, args: &[u8]) -> Step {
        let info = match T::method(method) {
            Ok(info) => info,
            Err(e) => return Step::Ready(Err(e)),
        };
        if info.stream {
            return Step::Ready(Err(RemoteError::new(
                RemoteErrorKind::NotExposed,
                format!("`{}.{}` is a stream method: open it as a stream", T::shared_type_id(), info.name),
            )));
        }
        let host = host(ctx, info);
        // A synchronous method with plain types cannot call through a proxy (the
        // server's proxies are async, and it was given none): it runs unrecorded.
        if !info.is_async && host.is_none() {
            return Step::from_outcome(self.call_user(info, args));
        }
        let key = object_key(&self);
        match run_in(key, host.as_ref(), || self.call_user(info, args)) {
            Outcome::Ready(result) => Step::from_outcome(Outcome::Ready(result)),
            Outcome::Pending(future) => Step::from_outcome(Outcome::Pending(Box::pin(InCall::new(key, host, future)))),
        }
    }

    fn open(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, args: &[u8]) -> Result<BoxSource, RemoteError> {
        let info = T::method(method)?;
        crate::user_stream::open(&self.lock, object_key(&self), host(ctx, info), info, args)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        if let Ok(guard) = self.lock.try_read() {
            return Step::Ready(guard.value_copy().map(Reply::value));
        }
        let lock = Arc::clone(&self.lock);
        Step::Pending(Box::pin(async move { lock.read().await.value_copy().map(Reply::value) }))
    }
}

impl<T: Dispatch> UserObject<T> {
    fn call_user(self: Arc<Self>, info: &'static MethodInfo, args: &[u8]) -> Outcome<'static> {
        // Fast path: a synchronous method whose lock is free runs right here.
        if !info.is_async {
            match info.receiver {
                Receiver::Ref => {
                    if let Ok(guard) = self.lock.try_read() {
                        return Outcome::Ready(finish_sync(T::call_ref(&guard, info.id, args), info));
                    }
                }
                Receiver::Mut => {
                    if let Ok(mut guard) = self.lock.try_write() {
                        return Outcome::Ready(finish_sync(T::call_mut(&mut guard, info.id, args), info));
                    }
                }
            }
        }
        // Otherwise wait for the lock (and the method) in a future that owns everything.
        let args = args.to_vec();
        let lock = Arc::clone(&self.lock);
        Outcome::Pending(Box::pin(async move {
            match info.receiver {
                Receiver::Ref => {
                    let guard = lock.read_owned().await;
                    match T::call_ref(&guard, info.id, &args) {
                        Outcome::Ready(r) => r,
                        Outcome::Pending(f) => f.await,
                    }
                }
                Receiver::Mut => {
                    let mut guard = lock.write_owned().await;
                    match T::call_mut(&mut guard, info.id, &args) {
                        Outcome::Ready(r) => r,
                        Outcome::Pending(f) => f.await,
                    }
                }
            }
        }))
    }
}
