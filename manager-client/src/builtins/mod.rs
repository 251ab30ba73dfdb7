//! Typed proxies for the built-in types (Python's SyncManager set).
//!
//! The server stores elements as encoded bytes; these proxies encode what you pass and
//! decode what comes back, so a proxy's type parameters are yours to choose. An object
//! remembers the element types it was created with (their `std::any::type_name`s, the
//! proxy's [`fingerprint`](manager_proto::fingerprint)), and a proxy with other types is
//! refused when it is opened by name or token ([`Error::TypeMismatch`]): postcard is not
//! self-describing, so a `u64` read as an `i64` would decode, wrongly. Objects made
//! without element types (a server's `named_builtin`) accept any, and
//! [`Client::named_unchecked`](crate::Client::named_unchecked) skips the check. Proxies
//! can be stored inside containers and come back as working proxies.
//!
//! Each proxy has a blocking twin of the same name in [`crate::blocking`].

use manager_proto::contract::{Method, WireAs};
use manager_proto::element::{ItemBuf, ItemRef, decode_item, decode_item_ref, encode_item, encode_item_in};
use manager_proto::postcard;
use manager_proto::proxy::{SplitArgs, decode_exact, encode};
use manager_proto::{Error, Handle, Item, MethodRef};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use macros::{constructors, proxy_methods, proxy_types};

mod barrier;
mod condition;
mod dict;
mod elements;
mod event;
mod list;
mod lock;
mod macros;
mod queue;
mod scalar;
mod semaphore;
mod set;
mod truthy;
pub mod watch;

/// The async proxies (re-exported at the crate root).
pub mod proxies {
    pub use super::barrier::BarrierProxy;
    pub use super::condition::{ConditionGuard, ConditionProxy};
    pub use super::dict::DictProxy;
    pub use super::elements::Elements;
    pub use super::event::EventProxy;
    pub use super::list::ListProxy;
    pub use super::lock::{LockGuard, LockProxy, RLockProxy};
    pub use super::queue::{JoinableQueueProxy, QueueProxy};
    pub use super::scalar::{ArrayProxy, NamespaceProxy, ValueProxy};
    pub use super::semaphore::{BoundedSemaphoreProxy, SemaphoreGuard, SemaphoreProxy};
    pub use super::set::SetProxy;
    pub use super::truthy::Truthy;
}

/// Their blocking twins (re-exported in [`crate::blocking`] under the same names).
pub mod blocking {
    pub use super::barrier::BlockingBarrierProxy as BarrierProxy;
    pub use super::condition::{BlockingConditionProxy as ConditionProxy, ConditionGuard};
    pub use super::dict::BlockingDictProxy as DictProxy;
    pub use super::event::BlockingEventProxy as EventProxy;
    pub use super::list::BlockingListProxy as ListProxy;
    pub use super::lock::{BlockingLockProxy as LockProxy, BlockingRLockProxy as RLockProxy, LockGuard};
    pub use super::queue::{BlockingJoinableQueueProxy as JoinableQueueProxy, BlockingQueueProxy as QueueProxy};
    pub use super::scalar::{
        BlockingArrayProxy as ArrayProxy, BlockingNamespaceProxy as NamespaceProxy, BlockingValueProxy as ValueProxy,
    };
    pub use super::semaphore::{
        BlockingBoundedSemaphoreProxy as BoundedSemaphoreProxy, BlockingSemaphoreProxy as SemaphoreProxy,
        SemaphoreGuard,
    };
    pub use super::set::BlockingSetProxy as SetProxy;
}

/// What an element of a built-in container can be: anything serde can encode, proxies
/// included.
pub trait Data: Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Data for T {}

/// Encodes a value as an element for `handle`'s server.
pub(crate) fn item<T: Serialize + ?Sized>(handle: &Handle, value: &T, what: &str) -> Result<Item, Error> {
    encode_item(value, handle.transport().server(), what)
}

/// Bytes an element may take to be encoded on the stack by [`small_item`].
pub(crate) const SMALL_ITEM: usize = 32;

/// Encodes a value as an element into `stack` when it fits there: a small key or value
/// needs no allocation (and no size pass).
pub(crate) fn small_item<'a, T: Serialize + ?Sized>(
    handle: &Handle,
    value: &T,
    what: &str,
    stack: &'a mut [u8; SMALL_ITEM],
) -> Result<ItemBuf<'a>, Error> {
    encode_item_in(value, handle.transport().server(), what, stack)
}

/// Encodes several values as elements.
pub(crate) fn items<'a, T: Serialize + 'a>(
    handle: &Handle,
    values: impl IntoIterator<Item = &'a T>,
    what: &str,
) -> Result<Vec<Item>, Error> {
    values.into_iter().map(|v| item(handle, v, what)).collect()
}

/// The most of a key's `Debug` form an error message shows.
const KEY_SHOWN: usize = 200;

/// A `KeyNotFound` error, told with the key the caller asked for: the server never
/// echoes a key back (it holds only its bytes), but the caller has it at hand.
pub(crate) fn with_key<T>(result: Result<T, Error>, key: &dyn std::fmt::Debug, container: &str) -> Result<T, Error> {
    result.map_err(|e| match e {
        Error::Remote(mut remote) if remote.kind == manager_proto::RemoteErrorKind::KeyNotFound => {
            let mut shown = format!("{key:?}");
            if let Some((cut, _)) = shown.char_indices().nth(KEY_SHOWN) {
                shown.truncate(cut);
                shown.push('…');
            }
            remote.message = format!("key {shown} is not in the {container}");
            Error::Remote(remote)
        }
        other => other,
    })
}

/// Decodes an element the server handed us.
pub(crate) fn value<T: DeserializeOwned>(handle: &Handle, item: &Item, what: &str) -> Result<T, Error> {
    decode_item(item, handle.transport(), what)
}

/// Decodes several elements.
pub(crate) fn values<T: DeserializeOwned>(handle: &Handle, items: &[Item], what: &str) -> Result<Vec<T>, Error> {
    items.iter().map(|i| value(handle, i, what)).collect()
}

/// Calls method `M` with its arguments (the contract's tuple, or one written the same
/// way) and decodes the reply's outer shape.
pub(crate) async fn call<M: Method, R: DeserializeOwned + WireAs<M::Reply>>(
    handle: &Handle,
    args: &(impl Serialize + WireAs<M::Args>),
) -> Result<R, Error> {
    let reply = handle.call_with(MethodRef::Id(M::ID), args, M::WHAT).await?;
    decode_exact(reply.bytes(), M::WHAT)
}

/// Calls method `M`, whose arguments are `before`, then the element `item`, then
/// `after` (its contract's [`WithItem`](manager_proto::contract::WithItem)), and
/// decodes the reply's outer shape. A large element's bytes go to the socket as they
/// are, instead of being copied into the encoded arguments first.
pub(crate) async fn call_with_item<M, B, C, R>(handle: &Handle, before: &B, item: Item, after: &C) -> Result<R, Error>
where
    M: Method,
    B: Serialize,
    C: Serialize,
    (B, Item, C): WireAs<M::Args>,
    R: DeserializeOwned + WireAs<M::Reply>,
{
    let what = M::WHAT;
    // An `Item` is its bytes (length, then the bytes themselves), then its refs.
    let mut head = encode(before, what)?;
    let encode_err = |e: postcard::Error| Error::Encode { what: what.to_owned(), reason: e.to_string() };
    head = postcard::to_extend(&(item.bytes.len() as u64), head).map_err(encode_err)?;
    let trailer = postcard::to_allocvec(&(&item.refs, after)).map_err(encode_err)?;
    let args = SplitArgs { head, body: item.bytes, trailer };
    let reply = handle.call_split_raw(MethodRef::Id(M::ID), args).await?;
    decode_exact(reply.bytes(), what)
}

/// Calls method `M`, whose reply is one element — or `None`, when `T` is an
/// `Option` — and decodes it as `T` in place: the element's bytes are read where the
/// reply holds them, not copied out first (a large value is copied once less).
/// `element` names what the element is, for a decode error.
pub(crate) async fn call_element<M, T, E>(
    handle: &Handle,
    args: &(impl Serialize + WireAs<M::Args>),
    element: &str,
) -> Result<T, Error>
where
    M: Method<Reply = E::Shape>,
    T: DeserializeOwned,
    E: ElementReply<T>,
{
    let reply = handle.call_with(MethodRef::Id(M::ID), args, M::WHAT).await?;
    E::decode(handle, reply.bytes(), M::WHAT, element)
}

/// The shape of a reply that carries one element: `One` (an element) or `Maybe` (an
/// optional one).
pub(crate) trait ElementReply<T> {
    /// The contract's reply it reads.
    type Shape;
    fn decode(handle: &Handle, bytes: &[u8], what: &str, element: &str) -> Result<T, Error>;
}

/// A reply that is one element.
pub(crate) enum One {}

/// A reply that is an optional element.
pub(crate) enum Maybe {}

impl<T: DeserializeOwned> ElementReply<T> for One {
    type Shape = Item;
    fn decode(handle: &Handle, bytes: &[u8], what: &str, element: &str) -> Result<T, Error> {
        let got: ItemRef<'_> = decode_exact(bytes, what)?;
        decode_item_ref(&got, handle.transport(), element)
    }
}

impl<T: DeserializeOwned> ElementReply<Option<T>> for Maybe {
    type Shape = Option<Item>;
    fn decode(handle: &Handle, bytes: &[u8], what: &str, element: &str) -> Result<Option<T>, Error> {
        let got: Option<ItemRef<'_>> = decode_exact(bytes, what)?;
        got.map(|i| decode_item_ref(&i, handle.transport(), element)).transpose()
    }
}

/// Who holds a lock, as the server sees it within this connection: the current tokio
/// task, or else the current thread — as Python's locks belong to threads.
///
/// A thread's id is a small even number it is given on its first call, so it costs a
/// thread-local read and travels as one or two bytes; a task's is a hash of tokio's
/// task id, made odd, so the two never meet.
pub(crate) fn owner_id() -> u64 {
    use std::hash::{Hash, Hasher};
    match tokio::task::try_id() {
        Some(task) => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            task.hash(&mut h);
            h.finish() | 1
        }
        // While the thread's locals are being torn down its id is gone: 0, which no
        // thread or task is given, rather than a panic.
        None => THREAD_OWNER.try_with(|id| *id).unwrap_or(0),
    }
}

/// The next thread's owner id (see [`owner_id`]); ids are never reused.
static NEXT_THREAD_OWNER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(2);

thread_local! {
    static THREAD_OWNER: u64 = NEXT_THREAD_OWNER.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
}

/// A timeout as Python's seconds.
pub(crate) fn secs(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64())
}

/// Sends a release that nobody waits for (from a guard's `Drop`).
pub(crate) fn release_unanswered<M: Method>(handle: &Handle, args: &(impl Serialize + WireAs<M::Args>)) {
    if let Ok(args) = encode(args, M::WHAT) {
        handle.transport().call_unanswered(handle.object(), MethodRef::Id(M::ID), args);
    }
}

use crate::Client;
use manager_proto::Proxy;

impl Client {
    /// Creates a built-in object from its constructor's arguments (`N`: the contract's
    /// tuple, e.g. `manager_proto::builtin::dict::New`).
    pub(crate) async fn create_builtin<P: Proxy, N>(&self, args: &(impl Serialize + WireAs<N>)) -> Result<P, Error> {
        let args = encode(args, &format!("the constructor arguments of `{}`", P::shared_type_id()))?;
        let handle = self.create_handle(P::shared_type_id(), &P::fingerprint(), args).await?;
        Ok(P::from_handle(handle))
    }

    /// Encodes values as elements for this client's server.
    pub(crate) fn encode_all<T: Serialize>(&self, values: &[T], what: &str) -> Result<Vec<Item>, Error> {
        values.iter().map(|v| encode_item(v, self.server_id(), what)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::owner_id;

    /// A thread keeps its owner id and no other thread or task shares it; a task keeps
    /// its own across awaits, whatever thread runs it.
    #[test]
    fn owner_ids_are_per_thread_and_per_task() {
        let here = owner_id();
        assert_eq!((here, here % 2), (owner_id(), 0));
        let other = std::thread::spawn(owner_id).join().unwrap();
        assert_ne!(other, here);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let (a, b) = rt.block_on(async {
            let task = || {
                tokio::spawn(async {
                    let first = owner_id();
                    tokio::task::yield_now().await;
                    (first, owner_id())
                })
            };
            (task().await.unwrap(), task().await.unwrap())
        });
        assert_eq!((a.0, b.0), (a.1, b.1), "stable across awaits");
        assert_ne!(a.0, b.0);
        assert!(a.0 % 2 == 1 && b.0 % 2 == 1, "tasks never share an id with a thread");
    }
}
