//! Elements of the built-in containers, and proxies nested inside them.
//!
//! A server stores built-in containers' elements as encoded bytes, so it hosts them for
//! any client types. An element travels as an [`Item`]: its bytes, and the ids of the
//! shared objects whose proxies it contains. The server holds a reference to each of
//! those objects while the element is stored — a proxy kept in a dict keeps its object
//! alive — and takes one for the reading connection whenever it hands the element out,
//! so the reader's decoded proxy owns a reference from the moment it exists.
//!
//! Proxies encode as their [`Token`]. [`encode_item`] collects the objects they name;
//! [`decode_item`] turns each token back into a live proxy on the reader's connection,
//! adopting the reference the server took for it (and releasing any the value did not
//! use).

use crate::proxy::{Handle, Transport};
use crate::{Error, ObjectId, ServerId, Token};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::sync::Arc;

/// An element on the wire: its encoding and the objects it references.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Item {
    /// The element's postcard encoding (serialized as a byte string: one copy, not one
    /// call per byte; the same bytes on the wire).
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// Objects named by proxies inside the element.
    pub refs: Vec<ObjectId>,
}

impl Item {
    /// An element that references no objects.
    pub fn plain(bytes: Vec<u8>) -> Item {
        Item { bytes, refs: Vec::new() }
    }
}

/// An element decoded in place: its bytes borrowed from the reply that carried it (the
/// same wire form as [`Item`]), so reading a large value copies it once less; or
/// encoded from where a server keeps it, without cloning it into an [`Item`] first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef<'a> {
    /// The element's postcard encoding (written as one byte string, like [`Item`]'s:
    /// serde would otherwise write a slice byte by byte).
    #[serde(borrow, serialize_with = "serde_bytes::serialize")]
    pub bytes: &'a [u8],
    /// Objects named by proxies inside the element.
    pub refs: Vec<ObjectId>,
}

/// Proxies met while encoding: `(server, object)`.
pub type Collected = Vec<(ServerId, ObjectId)>;

/// What decoding an element may adopt.
struct Adopting {
    transport: Arc<dyn Transport>,
    /// References the server took for us and no decoded proxy has claimed yet; `None`
    /// in a `#[shared]` method's result, where the server took one per proxy.
    unclaimed: Option<Vec<ObjectId>>,
}

thread_local! {
    static COLLECTING: RefCell<Option<Collected>> = const { RefCell::new(None) };
    static ADOPTING: RefCell<Option<Adopting>> = const { RefCell::new(None) };
}

/// Encodes `value` as an element for the server `server`, noting the objects its
/// proxies name. A proxy to another server cannot be stored (the reader could not
/// reach it through this connection): that is an error.
pub fn encode_item<T: Serialize + ?Sized>(value: &T, server: ServerId, what: &str) -> Result<Item, Error> {
    // The size pass runs before collecting starts, so no proxy is noted twice. A large
    // value is encoded into this thread's spare buffer when it has room; any other into
    // a buffer of exactly its size, which then never grows.
    // The size pass collects too (and drops what it found): a proxy met while collecting
    // mints its token without a lease, the container's reference being what holds it.
    let (size, _) = collecting(server, what, || postcard::experimental::serialized_size(value));
    let size = size.unwrap_or(0);
    let buf = match size {
        size if size >= crate::spare::MIN => crate::spare::take(size),
        _ => None,
    };
    let buf = buf.unwrap_or_else(|| Vec::with_capacity(size));
    let (bytes, refs) = collecting(server, what, || crate::wire::append(value, buf));
    let bytes = bytes.map_err(|e| Error::Encode { what: what.to_owned(), reason: e.to_string() })?;
    Ok(Item { bytes, refs: refs? })
}

/// [`encode_item`] into `stack` when the encoding fits there (no size pass, no
/// allocation), else as an [`Item`].
///
/// ```
/// use manager_proto::element::{ItemBuf, encode_item, encode_item_in};
/// use manager_proto::ServerId;
/// let mut stack = [0u8; 16];
/// let small = encode_item_in(&42u32, ServerId(1), "a key", &mut stack).unwrap();
/// assert!(matches!(small, ItemBuf::Stack(_)));
/// // The same bytes on the wire as the element it stands for.
/// let item = encode_item(&42u32, ServerId(1), "a key").unwrap();
/// assert_eq!(postcard::to_allocvec(&small).unwrap(), postcard::to_allocvec(&item).unwrap());
/// let mut stack = [0u8; 4];
/// let large = encode_item_in("longer than four bytes", ServerId(1), "a key", &mut stack).unwrap();
/// assert!(matches!(large, ItemBuf::Heap(_)));
/// ```
pub fn encode_item_in<'a, T: Serialize + ?Sized>(
    value: &T,
    server: ServerId,
    what: &str,
    stack: &'a mut [u8],
) -> Result<ItemBuf<'a>, Error> {
    match collecting(server, what, || postcard::to_slice(value, stack)) {
        (Ok(bytes), refs) => Ok(ItemBuf::Stack(ItemRef { bytes, refs: refs? })),
        // What it collected before the buffer filled is dropped with it.
        (Err(postcard::Error::SerializeBufferFull), _) => encode_item(value, server, what).map(ItemBuf::Heap),
        (Err(e), _) => Err(Error::Encode { what: what.to_owned(), reason: e.to_string() }),
    }
}

/// An element encoded by [`encode_item_in`]: in its caller's buffer, or (too large for
/// it) an [`Item`] of its own. Either way the same bytes on the wire as an [`Item`].
#[derive(Debug)]
pub enum ItemBuf<'a> {
    /// In the caller's buffer.
    Stack(ItemRef<'a>),
    /// In a buffer of its own.
    Heap(Item),
}

impl Serialize for ItemBuf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ItemBuf::Stack(item) => item.serialize(serializer),
            ItemBuf::Heap(item) => item.serialize(serializer),
        }
    }
}

/// Runs `encode` with proxy collection on: its result, and the objects the proxies it
/// met name — an error if one belongs to another server than `server`.
fn collecting<R>(server: ServerId, what: &str, encode: impl FnOnce() -> R) -> (R, Result<Vec<ObjectId>, Error>) {
    let (result, collected) = collecting_raw(encode);
    let mut refs = Vec::with_capacity(collected.len());
    for (srv, object) in collected {
        if srv != server {
            let reason = format!(
                "it holds a proxy to object {object} of server run {srv}, and this container lives on server run \
                 {server}; store proxies in containers of their own server"
            );
            return (result, Err(Error::Encode { what: what.to_owned(), reason }));
        }
        refs.push(object);
    }
    (result, Ok(refs))
}

/// Decodes an element the server handed to `transport`'s connection, turning the
/// tokens inside into live proxies that own the references the server took for them.
/// References no proxy claimed are released.
pub fn decode_item<T: DeserializeOwned>(item: &Item, transport: &Arc<dyn Transport>, what: &str) -> Result<T, Error> {
    decode_element(&item.bytes, &item.refs, transport, what)
}

/// [`decode_item`] for an element decoded in place.
///
/// ```
/// use manager_proto::element::ItemRef;
/// // `Item { bytes: [3, 1, 2, 3], refs: [] }` on the wire; the bytes stay where they are.
/// let wire = [4u8, 3, 1, 2, 3, 0];
/// let item: ItemRef = manager_proto::proxy::decode_exact(&wire, "an element").unwrap();
/// assert_eq!(item.bytes, &[3, 1, 2, 3]);
/// assert!(std::ptr::eq(&item.bytes[0], &wire[1]));
/// ```
pub fn decode_item_ref<T: DeserializeOwned>(
    item: &ItemRef<'_>,
    transport: &Arc<dyn Transport>,
    what: &str,
) -> Result<T, Error> {
    decode_element(item.bytes, &item.refs, transport, what)
}

fn decode_element<T: DeserializeOwned>(
    bytes: &[u8],
    refs: &[ObjectId],
    transport: &Arc<dyn Transport>,
    what: &str,
) -> Result<T, Error> {
    if refs.is_empty() {
        return crate::proxy::decode_exact(bytes, what);
    }
    let previous = ADOPTING.with(|a| {
        a.borrow_mut().replace(Adopting { transport: Arc::clone(transport), unclaimed: Some(refs.to_vec()) })
    });
    let result = crate::proxy::decode_exact(bytes, what);
    let adopting = ADOPTING.with(|a| std::mem::replace(&mut *a.borrow_mut(), previous));
    if let Some(Adopting { transport, unclaimed: Some(left) }) = adopting {
        for object in left {
            transport.release(object);
        }
    }
    result
}

/// Decodes the result of a `#[shared]` method that came through `transport`: each
/// proxy inside owns the reference the server took for it (one per proxy the result
/// holds, see [`encode_collected`]).
pub fn decode_adopting<T: DeserializeOwned>(
    bytes: &[u8],
    transport: &Arc<dyn Transport>,
    what: &str,
) -> Result<T, Error> {
    let previous =
        ADOPTING.with(|a| a.borrow_mut().replace(Adopting { transport: Arc::clone(transport), unclaimed: None }));
    let result = crate::proxy::decode_exact(bytes, what);
    ADOPTING.with(|a| *a.borrow_mut() = previous);
    result
}

/// Encodes `value` (a `#[shared]` method's result, on the server), with the objects its
/// proxies name, one entry per proxy: the server takes a reference for the caller for
/// each, which the caller's decoded proxy owns ([`decode_adopting`]).
pub fn encode_collected<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<(crate::Reply, Collected), Error> {
    let mut stack = [0u8; crate::Reply::INLINE];
    // One pass collects: the stack attempt, or (too large for it) the encoding proper.
    let (small, collected) = collecting_raw(|| postcard::to_slice(value, &mut stack).map(|b| b.len()));
    match small {
        Ok(len) => Ok((crate::Reply::copy_of(stack.get(..len).unwrap_or_default()), collected)),
        Err(postcard::Error::SerializeBufferFull) => {
            let (bytes, collected) = collecting_raw(|| crate::proxy::encode(value, what));
            Ok((crate::Reply::from(bytes?), collected))
        }
        Err(e) => Err(Error::Encode { what: what.to_owned(), reason: e.to_string() }),
    }
}

/// Runs `encode` (a call's arguments) so that proxies in it are not leased: the caller
/// keeps them until the reply comes, which holds their objects for the call.
pub fn held_by_caller<R>(encode: impl FnOnce() -> R) -> R {
    collecting_raw(encode).0
}

fn collecting_raw<R>(encode: impl FnOnce() -> R) -> (R, Collected) {
    let previous = COLLECTING.with(|c| c.borrow_mut().replace(Vec::new()));
    let result = encode();
    let collected = COLLECTING.with(|c| std::mem::replace(&mut *c.borrow_mut(), previous)).unwrap_or_default();
    (result, collected)
}

/// Serializes a handle as its token. Inside an element being encoded it is noted (the
/// container will hold the object); anywhere else the token is leased, as
/// [`Handle::token`] does, since nothing else holds the object while it travels.
pub fn serialize_handle<S: Serializer>(handle: &Handle, serializer: S) -> Result<S::Ok, S::Error> {
    let token = COLLECTING.with(|c| {
        let mut c = c.borrow_mut();
        let collected = c.as_mut()?;
        let token = handle.token_unleased();
        collected.push((token.server, token.object));
        Some(token)
    });
    token.unwrap_or_else(|| handle.token()).serialize(serializer)
}

/// Deserializes a handle from a token inside an element the server handed us (or a
/// `#[shared]` method's result), adopting the reference the server took for it; on the
/// server, inside a `#[shared]` call, from a proxy argument (a handle calling the
/// object in place, see [`crate::hosting::Host::resolve`]). Anywhere else it is an
/// error: decode a [`Token`] and `attach` it instead.
pub fn deserialize_handle<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Handle, D::Error> {
    use serde::de::Error as _;
    let token = Token::deserialize(deserializer)?;
    let adopted = ADOPTING.with(|a| {
        let mut a = a.borrow_mut();
        let Some(adopting) = a.as_mut() else { return Ok(None) };
        if token.server != adopting.transport.server() {
            return Err(D::Error::custom(format!("{} belongs to another server run", token.describe())));
        }
        if let Some(unclaimed) = &mut adopting.unclaimed {
            let pos = unclaimed
                .iter()
                .position(|id| *id == token.object)
                .ok_or_else(|| D::Error::custom(format!("the server took no reference for {}", token.describe())))?;
            unclaimed.swap_remove(pos);
        }
        Ok(Some(Handle::new(Arc::clone(&adopting.transport), token.object, token.type_id.clone())))
    })?;
    if let Some(handle) = adopted {
        return Ok(handle);
    }
    match crate::hosting::current_host() {
        Some(host) => host.resolve(&token).map_err(D::Error::custom),
        None => Err(D::Error::custom(format!(
            "a proxy ({}) can only be decoded from a container's element or a shared method's result; decode a Token \
             and attach it",
            token.describe()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_ref_is_encoded_and_decoded_exactly_as_an_item() {
        let bytes: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let item = Item { bytes: bytes.clone(), refs: vec![ObjectId(5), ObjectId(300)] };
        let borrowed = ItemRef { bytes: &bytes, refs: item.refs.clone() };
        let wire = postcard::to_allocvec(&item).unwrap();
        assert_eq!(postcard::to_allocvec(&borrowed).unwrap(), wire);
        let back: ItemRef<'_> = crate::proxy::decode_exact(&wire, "an element").unwrap();
        assert_eq!(back, borrowed);
    }
}
