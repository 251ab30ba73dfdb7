//! What a `#[shared]` method reaches of its server while it runs: the [`Host`] that
//! puts the values it returns as [`Shared<T>`] into the object table, takes references
//! for the proxies its result carries, and turns the proxies it takes as arguments into
//! handles that call objects in place.
//!
//! The server says which object is running, and on which host, around each call
//! ([`run_in`] for a synchronous one, [`InCall`] around a future): a thread-local
//! stack, which the generated code reads (through `__private`) and which
//! [`is_running`] reads to refuse a call through a proxy to an object whose own call is
//! waiting on it (it would wait for itself forever).

use crate::dispatch::BoxFuture;
use crate::proxy::Handle;
use crate::{ObjectId, RemoteError, ServerId, Token};
use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A value a `#[shared]` method returns to be hosted on the server as an object of its
/// own (Python's `method_to_typeid`): the caller's proxy method returns a proxy to it
/// (`Shared<Vector>` on the server, `VectorProxy` on the client). `T` must be a
/// `#[shared]` type registered on the server.
///
/// ```
/// use manager_proto::Shared;
/// let hosted = Shared::new(vec![1, 2]);
/// assert_eq!(hosted.into_inner(), vec![1, 2]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shared<T>(T);

impl<T> Shared<T> {
    /// Marks `value` to be hosted.
    pub fn new(value: T) -> Self {
        Shared(value)
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Shared<T> {
    fn from(value: T) -> Self {
        Shared(value)
    }
}

/// The server, as a running call sees it. Implemented by `manager_server`.
pub trait Host: Send + Sync {
    /// Inserts `value`, an object of the `#[shared]` type `type_id` (named `type_name`
    /// in Rust), into the object table and returns a handle owning its one reference.
    /// An error if the server has no such type registered.
    fn host(&self, type_id: &'static str, type_name: &str, value: Box<dyn Any + Send>) -> Result<Handle, RemoteError>;

    /// Takes one reference to `object` of server run `server` for whoever the call's
    /// result goes to: a proxy to it is in the result.
    fn adopt(&self, server: ServerId, object: ObjectId) -> Result<(), RemoteError>;

    /// A handle to the object `token` names, owning a reference of its own, whose calls
    /// run in place (a proxy argument, decoded on the server).
    fn resolve(&self, token: &Token) -> Result<Handle, String>;
}

/// One call being run on this thread.
struct Running {
    /// The object's address (see [`object_key`]).
    object: usize,
    /// `None` for a call whose arguments and result hold no proxies.
    host: Option<Arc<dyn Host>>,
}

thread_local! {
    static RUNNING: RefCell<Vec<Running>> = const { RefCell::new(Vec::new()) };
}

/// The key [`run_in`], [`InCall`] and [`is_running`] know an object by: its address.
pub fn object_key<T: ?Sized>(object: &Arc<T>) -> usize {
    Arc::as_ptr(object) as *const () as usize
}

/// Pops the entry its creation pushed, even if the call panics.
struct Popper;

impl Drop for Popper {
    fn drop(&mut self) {
        RUNNING.with(|r| r.borrow_mut().pop());
    }
}

fn push(object: usize, host: Option<&Arc<dyn Host>>) -> Popper {
    RUNNING.with(|r| r.borrow_mut().push(Running { object, host: host.cloned() }));
    Popper
}

/// Runs `f`, a call on `object` (see [`object_key`]), as the call running on `host`
/// (`None`: a call that needs none, recorded only to refuse calls back into `object`).
pub fn run_in<R>(object: usize, host: Option<&Arc<dyn Host>>, f: impl FnOnce() -> R) -> R {
    let _popper = push(object, host);
    f()
}

/// A call's future, polled as the call running on its host.
#[allow(missing_debug_implementations)]
pub struct InCall<T> {
    object: usize,
    host: Option<Arc<dyn Host>>,
    future: BoxFuture<'static, T>,
}

impl<T> InCall<T> {
    /// `future`, a call on `object`, run on `host` (see [`run_in`]).
    pub fn new(object: usize, host: Option<Arc<dyn Host>>, future: BoxFuture<'static, T>) -> Self {
        InCall { object, host, future }
    }
}

impl<T> Future for InCall<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let _popper = push(self.object, self.host.as_ref());
        self.future.as_mut().poll(cx)
    }
}

/// Whether a call on `object` is running on this thread, below the current one: a call
/// through a proxy to it would wait for the lock that call holds.
pub fn is_running(object: usize) -> bool {
    RUNNING.with(|r| r.borrow().iter().any(|c| c.object == object))
}

/// The host of the call running on this thread, if any.
pub fn current_host() -> Option<Arc<dyn Host>> {
    RUNNING.with(|r| r.borrow().last().and_then(|c| c.host.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_calls_are_recorded_while_they_run_and_no_longer() {
        let a = Arc::new(1u8);
        let b = Arc::new(2u8);
        assert!(!is_running(object_key(&a)));
        run_in(object_key(&a), None, || {
            assert!(is_running(object_key(&a)));
            run_in(object_key(&b), None, || {
                assert!(is_running(object_key(&a)) && is_running(object_key(&b)));
                assert!(current_host().is_none());
            });
            assert!(!is_running(object_key(&b)));
        });
        assert!(!is_running(object_key(&a)));
        // A panicking call is popped too.
        let _ = std::panic::catch_unwind(|| run_in(object_key(&a), None, || panic!("boom")));
        assert!(!is_running(object_key(&a)));
    }
}
