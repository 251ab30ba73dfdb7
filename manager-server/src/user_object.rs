//! The adapter that hosts a `#[shared]` type as a [`ServerObject`].

use manager_proto::dispatch::{CallResult, Dispatch, MethodInfo, Outcome, Receiver};
use manager_proto::stream::BoxSource;
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::Arc;
use tokio::sync::RwLock;

use crate::local::ConnHost;
use crate::object::{CallContext, Reply, ServerObject, Step};
use crate::watch::{Watched, Watchers, encode_state};
use manager_proto::hosting::{Host, InCall, object_key, run_in};
use manager_proto::method_id;
use manager_proto::watch::{Called, WATCH_METHOD};

/// Hosts a `#[shared]` type: a readers-writer lock gives `&mut self` methods exclusive
/// access and lets `&self` methods run together.
///
/// A method that cannot take the lock at once, and every `async` method, runs as a
/// future that owns a guard; an `async fn(&self)` therefore keeps `&mut self` methods
/// waiting until it finishes (it holds a shared borrow for its whole run, as Rust's
/// rules require), while other `&self` methods and other objects go on.
///
/// A `#[shared(watch)]` type's object counts each `&mut self` call as a change: it is
/// numbered and queued for the object's watchers (`crate::watch`) while the call still
/// holds the write lock, so watchers hear of changes in the order they ran.
pub(crate) struct UserObject<T> {
    /// The value, shared with in-flight futures that hold guards on it.
    lock: Arc<RwLock<T>>,
    /// Its watchers (none unless the type is `#[shared(watch)]`).
    watchers: Arc<Watchers>,
}

impl<T: Dispatch> UserObject<T> {
    pub(crate) fn new(value: T) -> Self {
        UserObject { lock: Arc::new(RwLock::new(value)), watchers: Arc::default() }
    }
}

/// A `&mut self` call of `info` ran: its watchers hear of it (call it while the call's
/// write lock is still held).
fn changed<T: Dispatch>(watchers: &Watchers, info: &MethodInfo) {
    if T::watched() {
        watchers.emit_plain(|| Called { method: info.name.to_owned() });
    }
}

/// Whether `method` is the `watch` stream a `#[shared(watch)]` type serves.
fn is_watch(method: MethodRef<'_>) -> bool {
    match method {
        MethodRef::Name(name) => name == WATCH_METHOD,
        MethodRef::Id(id) => id == method_id(WATCH_METHOD),
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

    fn method_name(&self, id: u32) -> Option<&'static str> {
        T::methods().iter().find(|m| m.id == id).map(|m| m.name)
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
        if T::watched() && is_watch(method) {
            let () = manager_proto::__private::v1::decode_args(args, "the arguments of watch")?;
            return Ok(Watchers::subscribe(self, ctx));
        }
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

impl<T: Dispatch> Watched for UserObject<T> {
    fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    /// The state is the object itself, read through its proxy: a snapshot is its
    /// version alone. Changes are numbered under the watchers' own lock, each while its
    /// call held the write lock, so the version read here splits them exactly.
    fn snapshot(&self, id: u64, _ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
        let events = self.watchers.resync(id, out);
        encode_state(&(), out)?;
        Ok(events)
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
                        let result = finish_sync(T::call_mut(&mut guard, info.id, args), info);
                        changed::<T>(&self.watchers, info);
                        return Outcome::Ready(result);
                    }
                }
            }
        }
        // Otherwise wait for the lock (and the method) in a future that owns everything.
        let args = args.to_vec();
        let lock = Arc::clone(&self.lock);
        let watchers = Arc::clone(&self.watchers);
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
                    let result = match T::call_mut(&mut guard, info.id, &args) {
                        Outcome::Ready(r) => r,
                        Outcome::Pending(f) => f.await,
                    };
                    changed::<T>(&watchers, info);
                    drop(guard);
                    result
                }
            }
        }))
    }
}
