//! Objects as the server holds them: any hosted value behind one object-safe trait,
//! and the adapter that hosts a `#[shared]` type.

use manager_proto::dispatch::{BoxFuture, CallResult, Dispatch, MethodInfo, Outcome, Receiver};
use manager_proto::outq::SharedBytes;
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::sync::Arc;
use tokio::sync::RwLock;

use crate::connection::CallContext;

/// Puts back what a transferring call took (an item into its queue, a lock's
/// ownership), if its caller never received it.
pub(crate) type Undo = Box<dyn FnOnce() + Send>;

/// A call's successful result.
pub(crate) struct Reply {
    /// The encoded return value (inline when small).
    pub(crate) bytes: manager_proto::Reply,
    /// Set for calls that take something (a queue item, a lock): how to give it back if
    /// the caller cancels after the server answered. The reply is then sent as a
    /// `Transfer`, which the client acknowledges on delivery.
    pub(crate) undo: Option<Undo>,
    /// Whether what was taken is held by the caller's connection (a lock, a permit),
    /// which its end releases anyway: the reply is then a `Grant`, whose `Ack` the
    /// client may send late, with its next request.
    pub(crate) grant: bool,
    /// A large stored element the reply carries after `bytes`, written from where it
    /// lies, then the bytes that follow it (see [`Reply::shared_element`]).
    pub(crate) shared: Option<(SharedBytes, Vec<u8>)>,
}

impl Reply {
    /// A plain result.
    pub(crate) fn value(bytes: impl Into<manager_proto::Reply>) -> Self {
        Reply { bytes: bytes.into(), undo: None, grant: false, shared: None }
    }

    /// A result that took something (a queue item), and how to give it back.
    pub(crate) fn transfer(bytes: impl Into<manager_proto::Reply>, undo: Undo) -> Self {
        Reply { bytes: bytes.into(), undo: Some(undo), grant: false, shared: None }
    }

    /// A plain result encoded in three parts: `head`, then the shared `body` (a large
    /// stored element, not copied), then `trailer`.
    pub(crate) fn shared_element(head: Vec<u8>, body: SharedBytes, trailer: Vec<u8>) -> Self {
        Reply { bytes: head.into(), undo: None, grant: false, shared: Some((body, trailer)) }
    }

    /// A result that made the caller's connection hold something (a lock, a permit)
    /// that the connection's end releases, and how to release it sooner.
    pub(crate) fn grant(bytes: impl Into<manager_proto::Reply>, undo: Undo) -> Self {
        Reply { bytes: bytes.into(), undo: Some(undo), grant: true, shared: None }
    }
}

/// A call's outcome.
pub(crate) type StepResult = Result<Reply, RemoteError>;

/// What calling a method produced: a result now, or a future for one.
pub(crate) enum Step {
    Ready(StepResult),
    Pending(BoxFuture<'static, StepResult>),
}

impl Step {
    fn from_outcome(outcome: Outcome<'static>) -> Step {
        match outcome {
            Outcome::Ready(r) => Step::Ready(r.map(Reply::value)),
            Outcome::Pending(f) => Step::Pending(Box::pin(async move { f.await.map(Reply::value) })),
        }
    }
}

/// A hosted object. User types get this through [`UserObject`]; the built-ins
/// implement it directly, because they need the caller's identity (lock owners) and
/// their own fine-grained waiting.
pub(crate) trait ServerObject: Send + Sync + 'static {
    /// The type id.
    fn shared_type_id(&self) -> &str;

    /// Calls a method. A synchronous result comes back at once; anything that may wait
    /// comes back as a future owning what it needs.
    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, args: &[u8]) -> Step;

    /// The encoded value (Python's `_getvalue`).
    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step;

    /// The object as `Any`, to find a built-in's concrete type (a condition's lock).
    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync>;

    /// The connection `conn` is gone: release whatever it held here (locks, permits).
    /// Only called for objects the connection asked to be told about
    /// ([`CallContext::on_disconnect`]).
    fn disconnected(&self, _conn: u64) {}
}

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

    fn call(self: Arc<Self>, _ctx: &CallContext, method: MethodRef<'_>, args: &[u8]) -> Step {
        Step::from_outcome(self.call_user(method, args))
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
    fn call_user(self: Arc<Self>, method: MethodRef<'_>, args: &[u8]) -> Outcome<'static> {
        let info = match T::method(method) {
            Ok(info) => info,
            Err(e) => return Outcome::Ready(Err(e)),
        };
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
