//! Streams of a built-in's elements (a live iteration: `for x in l`, `d.keys()`): each
//! element decoded as the caller's type when it is read, proxies in it owning their
//! references as a call's results do.

use manager_proto::contract::{Method, WireAs};
use manager_proto::element::{ItemRef, decode_item_ref};
use manager_proto::stream::{RawStream, Stream};
use manager_proto::{Error, Handle, MethodRef};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A stream of a built-in's elements, or of what a built-in streams (a dict's items, a
/// watch's events), read as `T`s: `next().await`, or a
/// [`Stream`](manager_proto::stream::Stream) of `Result<T, Error>`. An error (a dict
/// that changed size, a lost connection) is its last item. Dropping it before its end
/// closes it on the server. Blocking proxies hand out the same stream as an iterator
/// ([`BlockingStream`](manager_proto::BlockingStream)).
pub struct Elements<T> {
    raw: RawStream,
    handle: Handle,
    decode: Decode<T>,
}

/// How an item's bytes become a `T`: the bytes, the proxies' connection, what they are.
type Decode<T> = fn(&[u8], &Handle) -> Result<(T, usize), Error>;

impl<T> Elements<T> {
    /// The next item, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    /// Polls for the next item.
    pub fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        let (handle, decode) = (&self.handle, self.decode);
        self.raw.poll_item(cx, |bytes| decode(bytes, handle))
    }

    /// Every remaining item, collected (stopping at the first error).
    pub async fn collect_all(mut self) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        while let Some(item) = self.next().await {
            out.push(item?);
        }
        Ok(out)
    }
}

impl<T> Stream for Elements<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx)
    }
}

impl<T> Unpin for Elements<T> {}

impl<T> fmt::Debug for Elements<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Elements").field("stream", &self.raw).field("object", &self.handle).finish()
    }
}

/// Opens stream method `M` of the object `handle` holds, decoding each item with
/// `decode`.
pub(crate) fn open<M: Method, T>(
    handle: &Handle,
    args: &(impl Serialize + WireAs<M::Args>),
    decode: Decode<T>,
) -> Elements<T> {
    let raw = handle.open_with(MethodRef::Id(M::ID), args, M::WHAT);
    Elements { raw, handle: handle.clone(), decode }
}

/// Decodes one element (an `Item` on the wire) as a `T`.
pub(crate) fn element<T: DeserializeOwned>(bytes: &[u8], handle: &Handle) -> Result<(T, usize), Error> {
    let (item, rest) = take::<ItemRef<'_>>(bytes, "a streamed element")?;
    Ok((decode_item_ref(&item, handle.transport(), "a streamed element")?, bytes.len() - rest.len()))
}

/// Decodes a pair of elements (a dict's item) as a `(K, V)`.
pub(crate) fn pair<K: DeserializeOwned, V: DeserializeOwned>(
    bytes: &[u8],
    handle: &Handle,
) -> Result<((K, V), usize), Error> {
    let (k, used) = element::<K>(bytes, handle)?;
    let rest = bytes.get(used..).unwrap_or_default();
    let (v, more) = element::<V>(rest, handle)?;
    Ok(((k, v), used + more))
}

/// Decodes a plain value (no elements in it) from the front of `bytes`.
pub(crate) fn plain<T: DeserializeOwned>(bytes: &[u8], _: &Handle) -> Result<(T, usize), Error> {
    let (value, rest) = take::<T>(bytes, "a streamed value")?;
    Ok((value, bytes.len() - rest.len()))
}

fn take<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<(T, &'a [u8]), Error> {
    manager_proto::postcard::take_from_bytes(bytes)
        .map_err(|e| Error::Decode { what: what.to_owned(), reason: e.to_string() })
}
