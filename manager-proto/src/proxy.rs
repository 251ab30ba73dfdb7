//! The client side of shared objects: what a proxy is made of, and the transport a
//! client implements so generated proxies can call through it.
//!
//! A proxy (generated `CounterProxy`, built-in `DictProxy`, ...) is a typed wrapper
//! around a [`Handle`]: one reference, held by this process, to one server object.
//! Clones share the handle; when the last clone drops, the transport releases the
//! reference.

use crate::dispatch::BoxFuture;
pub use crate::pending::{PendingReply, ReplySource};
use crate::reply::{Encoded, encode_small};
pub use crate::reply::{Reply, decode_exact, encode};
use crate::stream::RawStream;
use crate::{Address, Error, MethodRef, ObjectId, ServerId, Token};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// What a proxy needs from the connection it was made on. Implemented by
/// `manager_client`; generated code only ever sees it behind a [`Handle`].
pub trait Transport: Send + Sync + 'static {
    /// Calls `method` of `object` with encoded arguments: the one entry point of every
    /// call. The request is encoded before this returns (so `method` and borrowed
    /// arguments need not outlive it); the future waits for the reply. Dropping the
    /// future cancels the call on the server.
    fn call(&self, object: ObjectId, method: MethodRef<'_>, args: CallArgs<'_>) -> PendingReply;

    /// Calls a method without waiting for (or getting) an answer: for releases from
    /// `Drop`, which cannot wait. Requests on one connection run in order, so a later
    /// call sees its effect.
    fn call_unanswered(&self, object: ObjectId, method: MethodRef<'_>, args: Vec<u8>);

    /// Opens a stream: calls stream method `method` of `object` (see
    /// [`stream`](crate::stream)). The request is encoded before this returns; the
    /// stream's batches arrive through the transport. The default refuses: a transport
    /// that cannot carry streams (a handle held on the server) says so.
    fn open(&self, object: ObjectId, method: MethodRef<'_>, args: CallArgs<'_>) -> RawStream {
        let _ = (object, method, args);
        // No method id in the message: the caller knows which method it opened, and an
        // id is not a name anyone knows.
        RawStream::failed(Error::Remote(crate::RemoteError::new(
            crate::RemoteErrorKind::NotExposed,
            "a stream method (an iterator, a watch) cannot be opened through a handle held on the server: \
             read a copy (snapshot()) instead",
        )))
    }

    /// Asks for a copy of the object's value.
    fn value_copy(&self, object: ObjectId) -> PendingReply;

    /// Releases one reference to `object` (fire and forget; never blocks).
    fn release(&self, object: ObjectId);

    /// Asks the server to hold `object`, which this connection holds, for its token
    /// lease from now (`Request::Lease`; fire and forget; never blocks). Sent in order
    /// with the connection's other requests, so a [`release`](Self::release) made after
    /// it reaches the server after it: the object is held at every instant.
    fn lease(&self, object: ObjectId);

    /// The server's address.
    fn address(&self) -> &Address;

    /// The server run this transport is connected to.
    fn server(&self) -> ServerId;
}

/// A call's encoded arguments, as the caller has them.
#[derive(Debug)]
pub enum CallArgs<'a> {
    /// Borrowed (small arguments encoded on the caller's stack): the transport copies
    /// them into its output.
    Borrowed(&'a [u8]),
    /// Owned, in three parts (see [`SplitArgs`]): a transport may send a large body as
    /// it is, instead of copying it next to the rest. Arguments in one piece are the
    /// body alone.
    Split(SplitArgs),
}

impl CallArgs<'_> {
    /// Arguments in one owned buffer.
    pub fn owned(bytes: Vec<u8>) -> CallArgs<'static> {
        CallArgs::Split(SplitArgs { body: bytes, ..SplitArgs::default() })
    }
}

/// Encoded arguments in three parts — `head`, then `body`, then `trailer` — so that a
/// large byte string in the middle (a 1 MiB element) need not be copied to join them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SplitArgs {
    /// What comes before the body.
    pub head: Vec<u8>,
    /// The large part.
    pub body: Vec<u8>,
    /// What comes after it.
    pub trailer: Vec<u8>,
}

impl SplitArgs {
    /// The arguments in one piece.
    ///
    /// ```
    /// use manager_proto::proxy::SplitArgs;
    /// let args = SplitArgs { head: vec![1], body: vec![2, 3], trailer: vec![4] };
    /// assert_eq!(args.join(), vec![1, 2, 3, 4]);
    /// ```
    pub fn join(mut self) -> Vec<u8> {
        self.head.reserve(self.body.len() + self.trailer.len());
        self.head.extend_from_slice(&self.body);
        self.head.extend_from_slice(&self.trailer);
        self.head
    }
}

/// Arguments whose encoding fits in this many bytes are encoded on the stack.
const ARGS_ON_STACK: usize = 96;

/// One reference, held by this process, to one server object. Clones share it; the
/// last clone to drop releases it.
#[derive(Clone)]
pub struct Handle(Arc<HandleInner>);

struct HandleInner {
    /// The connection the reference was taken on, and will be released on.
    transport: Arc<dyn Transport>,
    /// The object.
    object: ObjectId,
    /// The object's type id, for tokens and error messages.
    type_id: String,
    /// When this handle last asked for a lease: a token minted again within
    /// [`LEASE_REUSE`](crate::token::LEASE_REUSE) rides on it, so `token()` in a loop
    /// costs no request per call.
    leased: Mutex<Option<Instant>>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.transport.release(self.object);
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle(`{}` {} at {})", self.0.type_id, self.0.object, self.0.transport.address())
    }
}

impl Handle {
    /// Wraps a reference the caller already holds on `transport` (from a create,
    /// incref or get-named); the handle releases it on drop.
    pub fn new(transport: Arc<dyn Transport>, object: ObjectId, type_id: String) -> Self {
        Handle(Arc::new(HandleInner { transport, object, type_id, leased: Mutex::new(None) }))
    }

    /// The object's id.
    pub fn object(&self) -> ObjectId {
        self.0.object
    }

    /// The object's type id.
    pub fn type_id(&self) -> &str {
        &self.0.type_id
    }

    /// The connection this handle calls through.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.0.transport
    }

    /// The object's token, to hand to another process. Minting it leases the object:
    /// the server holds it for its token lease (30 s by default) from now, so this
    /// handle may be dropped at once and the receiver can still attach. A token minted
    /// again within [`LEASE_REUSE`](crate::token::LEASE_REUSE) reuses the lease already
    /// asked for (it then lasts at least the lease minus that).
    pub fn token(&self) -> Token {
        self.lease();
        self.token_unleased()
    }

    /// Asks for a lease unless one was asked for within `LEASE_REUSE`.
    fn lease(&self) {
        let now = Instant::now();
        // Held while the lease is queued, so two threads minting at once send one.
        let mut last = self.0.leased.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| now.duration_since(at) < crate::token::LEASE_REUSE) {
            return;
        }
        *last = Some(now);
        self.0.transport.lease(self.0.object);
    }

    /// The token without a lease: for a proxy stored in a container's element, whose
    /// reference the container holds.
    pub(crate) fn token_unleased(&self) -> Token {
        Token {
            address: self.0.transport.address().clone(),
            server: self.0.transport.server(),
            object: self.0.object,
            type_id: self.0.type_id.clone(),
        }
    }

    /// Calls a method with already-encoded arguments.
    pub fn call_raw(&self, method: MethodRef<'_>, args: Vec<u8>) -> PendingReply {
        self.0.transport.call(self.0.object, method, CallArgs::owned(args))
    }

    /// Encodes `args` and calls a method with them; `what` names the arguments in an
    /// encoding error, which the future returns. Small arguments are encoded on the
    /// stack, so the common call allocates no buffer for them.
    pub fn call_with<A: Serialize + ?Sized>(&self, method: MethodRef<'_>, args: &A, what: &str) -> PendingReply {
        let mut buf = [0u8; ARGS_ON_STACK];
        match encode_small(args, &mut buf, what) {
            Ok(Encoded::Stack(bytes)) => self.0.transport.call(self.0.object, method, CallArgs::Borrowed(bytes)),
            Ok(Encoded::Heap(bytes)) => self.call_raw(method, bytes),
            Err(e) => PendingReply::failed(e),
        }
    }

    /// Opens stream method `method` with `args` (see [`crate::stream`]); `what` names
    /// the arguments in an encoding error, which the stream yields. The stream keeps
    /// this handle (and so the object) while it runs.
    pub fn open_with<A: Serialize + ?Sized>(&self, method: MethodRef<'_>, args: &A, what: &str) -> RawStream {
        let mut buf = [0u8; ARGS_ON_STACK];
        let raw = match encode_small(args, &mut buf, what) {
            Ok(Encoded::Stack(bytes)) => self.0.transport.open(self.0.object, method, CallArgs::Borrowed(bytes)),
            Ok(Encoded::Heap(bytes)) => self.0.transport.open(self.0.object, method, CallArgs::owned(bytes)),
            Err(e) => return RawStream::failed(e),
        };
        raw.holding(self.clone())
    }

    /// Calls a method with already-encoded arguments in parts (see [`SplitArgs`]).
    pub fn call_split_raw(&self, method: MethodRef<'_>, args: SplitArgs) -> PendingReply {
        self.0.transport.call(self.0.object, method, CallArgs::Split(args))
    }

    /// Calls a method by name with a tuple of arguments (Python's `_callmethod`): the
    /// dynamic escape hatch next to a proxy's typed methods.
    pub async fn call<A, R>(&self, method: &str, args: &A) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let what = format!("`{}`.{method}", self.0.type_id);
        let reply = self.call_with(MethodRef::Name(method), args, &format!("the arguments of {what}")).await?;
        reply.decode(&format!("the result of {what}"))
    }

    /// A copy of the object's value (Python's `_getvalue`).
    pub async fn value_copy<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let reply = self.0.transport.value_copy(self.0.object).await?;
        reply.decode(&format!("the value of `{}` {}", self.0.type_id, self.0.object))
    }
}

/// A typed proxy: generated by `#[shared]` for user types, written by hand for the
/// built-ins.
pub trait Proxy: Clone + Send + Sync + Sized + 'static {
    /// The type id of the objects this proxy fronts.
    fn shared_type_id() -> &'static str;

    /// What this proxy expects of an object beyond its type id (see
    /// [`fingerprint`](crate::fingerprint)): a built-in's element types, a `#[shared]`
    /// type's interface. Given to objects this proxy creates, and checked against an
    /// object's before a proxy to it is handed out. Empty (the default) checks nothing.
    fn fingerprint() -> Cow<'static, str> {
        Cow::Borrowed("")
    }

    /// Wraps a handle whose type id the caller has checked.
    fn from_handle(handle: Handle) -> Self;

    /// The proxy's handle.
    fn handle(&self) -> &Handle;

    /// The object's token, to hand to another process; minting it leases the object
    /// (see [`Handle::token`]).
    fn token(&self) -> Token {
        self.handle().token()
    }
}

/// Something objects can be created through: an async client.
pub trait Connect {
    /// Creates an object of `type_id` from encoded constructor arguments, giving it
    /// `fingerprint` (see [`Proxy::fingerprint`]; empty for none).
    fn create_object<'a>(
        &'a self,
        type_id: &'a str,
        fingerprint: &'a str,
        args: Vec<u8>,
    ) -> BoxFuture<'a, Result<Handle, Error>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_cannot_be_encoded_is_an_encode_error() {
        // postcard needs the length of a sequence up front.
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                s.serialize_seq(None)?.end()
            }
        }
        let err = Reply::encode(&Unsized, "the thing").unwrap_err();
        assert!(matches!(&err, Error::Encode { what, .. } if what == "the thing"), "{err:?}");
    }
}
