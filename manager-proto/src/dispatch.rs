//! The server side of a shared type: what `#[shared]` implements so a server can
//! construct the type and call its methods from encoded requests.

use crate::stream::BoxSource;
use crate::{MethodRef, RemoteError, RemoteErrorKind};
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An encoded result (inline when small), or the error to send instead.
pub type CallResult = Result<crate::reply::Reply, RemoteError>;

/// How a method borrows its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// `&self`: may run alongside other `&self` methods.
    Ref,
    /// `&mut self`: runs alone.
    Mut,
}

/// One exposed method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodInfo {
    /// The exposed name (after `rename`).
    pub name: &'static str,
    /// [`method_id`](crate::method_id) of the name.
    pub id: u32,
    /// How it borrows the object.
    pub receiver: Receiver,
    /// Whether it is an `async fn` (may park).
    pub is_async: bool,
    /// Whether its arguments or result may hold proxies or `Shared<T>` values: the
    /// server then runs it on a `Host` (see [`crate::hosting`]); the others skip that.
    pub hosted: bool,
    /// Whether it is a stream method (it returns `impl Iterator` or `impl Stream`):
    /// opened with `Request::Open` ([`Dispatch::open_ref`], [`Dispatch::open_mut`]),
    /// never called.
    pub stream: bool,
}

/// What calling a method produced.
#[allow(missing_debug_implementations)]
pub enum Outcome<'a> {
    /// A synchronous method finished.
    Ready(CallResult),
    /// An async method's future, borrowing the object until it completes.
    Pending(BoxFuture<'a, CallResult>),
}

/// A type a server can host. Implemented by `#[shared]`; the server wraps each object
/// in a lock that gives `&mut self` methods exclusive access and lets `&self` methods
/// run together.
pub trait Dispatch: Sized + Send + Sync + 'static {
    /// The type id clients name it by.
    fn shared_type_id() -> &'static str;

    /// The type's interface as a [`fingerprint`](crate::fingerprint): its
    /// constructor's and exposed methods' signatures. A server checks a creating
    /// client's against it and gives it to every object of the type. Empty (the
    /// default) checks nothing.
    fn fingerprint() -> &'static str {
        ""
    }

    /// Whether the type was declared `#[shared(watch)]`: its objects then count every
    /// `&mut self` call as a change and serve a `watch` stream of them
    /// ([`crate::watch::SharedWatch`]).
    fn watched() -> bool {
        false
    }

    /// The exposed methods.
    fn methods() -> &'static [MethodInfo];

    /// Builds an object from encoded constructor arguments.
    fn construct(args: &[u8]) -> Result<Self, RemoteError>;

    /// Calls a `&self` method (by id, already resolved through [`Dispatch::method`]).
    fn call_ref<'a>(&'a self, method: u32, args: &[u8]) -> Outcome<'a>;

    /// Calls a `&mut self` method.
    fn call_mut<'a>(&'a mut self, method: u32, args: &[u8]) -> Outcome<'a>;

    /// Opens a `&self` stream method (by id, already resolved): runs it and returns
    /// its items' producer, which owns what it reads (the object's lock is released
    /// once this returns). The default has no stream methods.
    fn open_ref(&self, method: u32, args: &[u8]) -> Result<BoxSource, RemoteError> {
        let _ = args;
        Err(not_a_stream(Self::shared_type_id(), method))
    }

    /// Opens a `&mut self` stream method (see [`Dispatch::open_ref`]).
    fn open_mut(&mut self, method: u32, args: &[u8]) -> Result<BoxSource, RemoteError> {
        let _ = args;
        Err(not_a_stream(Self::shared_type_id(), method))
    }

    /// The object's value, encoded (Python's `_getvalue`); an error if the type is not
    /// `Serialize`.
    fn value_copy(&self) -> CallResult;

    /// Resolves a method reference to an exposed method, or the error to answer with.
    fn method(method: MethodRef<'_>) -> Result<&'static MethodInfo, RemoteError> {
        resolve_method(Self::shared_type_id(), Self::methods(), method)
    }
}

/// The error for opening a method of `type_id` that is not a stream method, naming it
/// if it is exposed.
fn not_a_stream(type_id: &str, method: u32) -> RemoteError {
    RemoteError::new(RemoteErrorKind::NotExposed, format!("`{type_id}` has no stream method with id {method:#010x}"))
}

/// Finds `method` among `methods` of type `type_id`, or explains why not.
pub fn resolve_method(
    type_id: &str,
    methods: &'static [MethodInfo],
    method: MethodRef<'_>,
) -> Result<&'static MethodInfo, RemoteError> {
    let found = match method {
        MethodRef::Id(id) => methods.iter().find(|m| m.id == id),
        MethodRef::Name(name) => methods.iter().find(|m| m.name == name),
    };
    found.ok_or_else(|| {
        let exposed = methods.iter().map(|m| m.name).collect::<Vec<_>>().join(", ");
        RemoteError::new(
            RemoteErrorKind::NotExposed,
            format!("`{type_id}` does not expose {method} (exposed: {exposed})"),
        )
    })
}
