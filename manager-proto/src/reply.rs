//! Encoded values: a call's answer ([`Reply`], inline when small), and the encoding
//! and exact decoding both sides use. The buffer type of the protocol, below both the
//! client's proxies and the server's dispatch.

use crate::Error;
use crate::response::Response;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// An encoded value that answers a call: on the client, the response frame and where
/// the value sits in it; on the server, what a method returned ([`CallResult`]).
///
/// A small value (up to [`Reply::INLINE`] bytes: a number, a flag, a short string) is
/// held inline, so the common reply costs no allocation on either side.
///
/// [`CallResult`]: crate::CallResult
#[derive(Debug)]
pub struct Reply {
    storage: Storage,
}

/// Not a `SmallVec`: the heap case is a view (`payload[start..]`) into a whole response
/// frame handed over without a copy, which a small-vector type cannot hold; the inline
/// case is the plain array a `SmallVec<[u8; 46]>` would be.
#[derive(Debug)]
enum Storage {
    /// `payload[start..]`.
    Heap { payload: Vec<u8>, start: usize },
    /// `bytes[..len]`.
    Inline { len: u8, bytes: [u8; Reply::INLINE] },
}

impl Reply {
    /// The largest value held inline.
    pub const INLINE: usize = 46;

    /// Wraps a response payload whose value starts at `start`.
    pub fn new(payload: Vec<u8>, start: usize) -> Self {
        Reply { storage: Storage::Heap { payload, start } }
    }

    /// A reply holding a copy of `value` (the encoded value alone), inline when it is
    /// small.
    ///
    /// ```
    /// use manager_proto::Reply;
    /// let reply = Reply::copy_of(&[42]);
    /// assert_eq!(reply.bytes(), &[42]);
    /// assert_eq!(reply.decode::<u8>("a byte").unwrap(), 42);
    /// ```
    pub fn copy_of(value: &[u8]) -> Self {
        match u8::try_from(value.len()) {
            Ok(len) if value.len() <= Self::INLINE => {
                let mut bytes = [0; Self::INLINE];
                bytes[..value.len()].copy_from_slice(value);
                Reply { storage: Storage::Inline { len, bytes } }
            }
            _ => Reply::new(value.to_vec(), 0),
        }
    }

    /// Encodes `value`, inline when its encoding is small; `what` names it in the error.
    ///
    /// ```
    /// use manager_proto::Reply;
    /// let small = Reply::encode(&(7u32, "seven"), "a pair").unwrap();
    /// assert_eq!(small.decode::<(u32, String)>("a pair").unwrap(), (7, "seven".to_owned()));
    /// let large = Reply::encode(&vec![1u8; 1000], "bytes").unwrap();
    /// assert_eq!(large.bytes().len(), 1002);
    /// ```
    pub fn encode<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Self, Error> {
        let mut bytes = [0; Self::INLINE];
        let len = match encode_small(value, &mut bytes, what)? {
            Encoded::Stack(used) => used.len(),
            Encoded::Heap(v) => return Ok(Reply::new(v, 0)),
        };
        // At most INLINE (< 256) bytes.
        Ok(Reply { storage: Storage::Inline { len: len as u8, bytes } })
    }

    /// The encoded value as a buffer of its own (a copy, unless it is a whole heap
    /// buffer already).
    pub fn into_vec(mut self) -> Vec<u8> {
        match &mut self.storage {
            Storage::Heap { payload, start: 0 } => std::mem::take(payload),
            _ => self.bytes().to_vec(),
        }
    }

    /// Interprets a response payload, which must be a `Value` response; any other kind
    /// becomes the matching error.
    pub fn from_payload(payload: Vec<u8>) -> Result<Self, Error> {
        Self::from_payload_at(payload, 0)
    }

    /// Like [`from_payload`](Self::from_payload), for a payload that starts at `offset`
    /// in `buf` (a receive buffer handed over whole, to spare copying a large value).
    pub fn from_payload_at(buf: Vec<u8>, offset: usize) -> Result<Self, Error> {
        let payload = buf.get(offset..).ok_or_else(|| Error::Protocol("a response outside its buffer".into()))?;
        match Response::decode(payload) {
            Ok((_, Response::Value(bytes) | Response::Transfer(bytes) | Response::Grant(bytes))) => {
                let start = buf.len() - bytes.len();
                Ok(Reply::new(buf, start))
            }
            Ok((_, Response::Error(e))) => Err(Error::Remote(e)),
            Ok((_, other)) => {
                Err(Error::Protocol(format!("expected a value, the server sent a response of kind {}", other.kind())))
            }
            Err(e) => Err(Error::Protocol(e.to_string())),
        }
    }

    /// The encoded value.
    pub fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Heap { payload, start } => payload.get(*start..).unwrap_or_default(),
            Storage::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
        }
    }

    /// Decodes the value as `T`; `what` names it in the error.
    pub fn decode<T: DeserializeOwned>(&self, what: &str) -> Result<T, Error> {
        decode_exact(self.bytes(), what)
    }
}

impl From<Vec<u8>> for Reply {
    /// An encoded value already in a buffer of its own.
    fn from(value: Vec<u8>) -> Self {
        Reply::new(value, 0)
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        // A large receive buffer is read into again, not freed and faulted back in.
        if let Storage::Heap { payload, .. } = &mut self.storage {
            crate::spare::give(std::mem::take(payload));
        }
    }
}

/// Decodes `bytes` as exactly one `T` (trailing bytes mean the two sides disagree on
/// the type, which must not pass silently).
pub fn decode_exact<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, Error> {
    let decode_err = |reason: String| Error::Decode { what: what.to_owned(), reason };
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| decode_err(e.to_string()))?;
    if !rest.is_empty() {
        return Err(decode_err(format!(
            "{} bytes left over: the server's type is not `{}`",
            rest.len(),
            std::any::type_name::<T>()
        )));
    }
    Ok(value)
}

/// Encodes `value`; `what` names it in the error.
pub fn encode<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<u8>, Error> {
    // Room for the usual small arguments up front, instead of growing from empty.
    crate::wire::append(value, Vec::with_capacity(32))
        .map_err(|e| Error::Encode { what: what.to_owned(), reason: e.to_string() })
}

/// An encoding: in the caller's stack buffer, or in a buffer of its own.
pub(crate) enum Encoded<'a> {
    Stack(&'a [u8]),
    Heap(Vec<u8>),
}

/// Encodes `value` into `stack` when it fits there, else into a growing buffer; `what`
/// names it in the error. A too-large value stops encoding when `stack` is full, so the
/// first attempt costs little.
pub(crate) fn encode_small<'a, T: Serialize + ?Sized>(
    value: &T,
    stack: &'a mut [u8],
    what: &str,
) -> Result<Encoded<'a>, Error> {
    match postcard::to_slice(value, stack) {
        Ok(bytes) => Ok(Encoded::Stack(bytes)),
        Err(postcard::Error::SerializeBufferFull) => encode(value, what).map(Encoded::Heap),
        Err(e) => Err(Error::Encode { what: what.to_owned(), reason: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_holds_the_same_bytes_inline_or_not() {
        for len in [0, 1, Reply::INLINE - 1, Reply::INLINE, Reply::INLINE + 1, 4096] {
            let value: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let reply = Reply::copy_of(&value);
            assert_eq!(reply.bytes(), &value[..], "{len} bytes");
            assert_eq!(matches!(reply.storage, Storage::Inline { .. }), len <= Reply::INLINE, "{len} bytes");
        }
    }

    #[test]
    fn an_encoded_reply_is_postcards_encoding_inline_or_not() {
        // A byte string of n bytes encodes to n + 1 (its length fits one byte up to 127).
        for len in [0, 1, Reply::INLINE - 2, Reply::INLINE - 1, Reply::INLINE, 100, 100_000] {
            let value = serde_bytes::ByteBuf::from(vec![7u8; len]);
            let expected = postcard::to_allocvec(&value).unwrap();
            let reply = Reply::encode(&value, "bytes").unwrap();
            assert_eq!(reply.bytes(), &expected[..], "{len} bytes");
            assert_eq!(matches!(reply.storage, Storage::Inline { .. }), expected.len() <= Reply::INLINE, "{len} bytes");
            assert_eq!(reply.decode::<serde_bytes::ByteBuf>("bytes").unwrap(), value);
            assert_eq!(reply.into_vec(), expected, "{len} bytes");
        }
    }
}
