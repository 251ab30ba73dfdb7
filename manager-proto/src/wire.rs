//! Field-level encoding shared by requests and responses: postcard primitives read
//! from and written to a flat buffer, so a message is `postcard((id, kind, fields..))`
//! followed, for calls and values, by the raw argument or result bytes.

use serde::{Deserialize, Serialize};

/// Appends the postcard encoding of `value` to `out`.
pub(crate) fn put<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // postcard only fails on its own size limits or a serializer error; the values
    // written through here are integers, strings and plain structs, which never fail.
    // Should one ever fail, what `out` held before stays: the encoder writes into it in
    // place, and a failed value is cut off again.
    let len = out.len();
    if postcard::serialize_with_flavor::<T, _, ()>(value, AppendTo(out)).is_err() {
        out.truncate(len);
    }
}

/// postcard's output appended to a buffer it borrows (so a failure cannot take the
/// buffer with it), a byte string with one `memcpy`.
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// `buf` with the postcard encoding of `value` appended.
pub(crate) fn append<T: Serialize + ?Sized>(value: &T, buf: Vec<u8>) -> postcard::Result<Vec<u8>> {
    postcard::serialize_with_flavor(value, Appender(buf))
}

/// postcard's output into a `Vec` that appends a byte string with one `memcpy`.
/// postcard's own `to_extend` goes through `Extend<u8>`, a loop over the bytes: it took
/// a tenth of a client's time when its values were 1 MiB.
struct Appender(Vec<u8>);

impl postcard::ser_flavors::Flavor for Appender {
    type Output = Vec<u8>;

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// Appends `value` as an unsigned LEB128 varint: postcard's encoding of every unsigned
/// integer, written without a serializer (ids and kinds go out on every message).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads fields off the front of a message.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(crate) fn get<T: Deserialize<'a>>(&mut self, what: &str) -> Result<T, String> {
        let (value, rest) = postcard::take_from_bytes::<T>(self.rest).map_err(|e| format!("{what}: {e}"))?;
        self.rest = rest;
        Ok(value)
    }

    /// Reads an unsigned varint of at most `BITS` bits (32 or 64), accepting exactly
    /// what postcard accepts for `u32`/`u64`.
    #[inline]
    fn varint<const BITS: u32>(&mut self, what: &str) -> Result<u64, String> {
        // Most fields (kinds, small ids) fit in one byte.
        if let Some((&byte, rest)) = self.rest.split_first()
            && byte < 0x80
        {
            self.rest = rest;
            return Ok(u64::from(byte));
        }
        let max_len = BITS.div_ceil(7) as usize;
        let bytes = self.rest;
        let mut value = 0u64;
        let mut i = 0;
        while i < max_len && i < bytes.len() {
            let byte = bytes[i];
            value |= u64::from(byte & 0x7F) << (7 * i);
            i += 1;
            if byte < 0x80 {
                if i == max_len && byte > (1u8 << (BITS % 7)) - 1 {
                    return Err(format!("{what}: bad varint"));
                }
                self.rest = &bytes[i..];
                return Ok(value);
            }
        }
        if i < max_len {
            return Err(format!("{what}: truncated"));
        }
        Err(format!("{what}: bad varint"))
    }

    /// Reads a `u64` (a postcard varint) without a deserializer.
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.varint::<64>(what)
    }

    /// Reads a `u32` (a postcard varint) without a deserializer.
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, String> {
        // At most 5 bytes whose last carries at most 4 bits: the value fits.
        self.varint::<32>(what).map(|v| v as u32)
    }

    pub(crate) fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let (head, rest) = self.rest.split_first_chunk::<N>().ok_or_else(|| format!("{what}: truncated"))?;
        self.rest = rest;
        Ok(*head)
    }

    /// Everything not yet read.
    pub(crate) fn rest(self) -> &'a [u8] {
        self.rest
    }

    /// Fails if anything is left: a message with trailing bytes is malformed.
    pub(crate) fn finish(self) -> Result<(), String> {
        if self.rest.is_empty() { Ok(()) } else { Err(format!("{} unexpected trailing bytes", self.rest.len())) }
    }
}

/// A message that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a well-formed message. `id` is known when the damage is after
    /// it, so a server can still answer the request with an error.
    #[error("malformed message{}: {reason}", id.map(|i| format!(" (request {i})")).unwrap_or_default())]
    Malformed {
        /// The request id, if it could be read.
        id: Option<u64>,
        /// What was wrong.
        reason: String,
    },
    /// A well-formed header with a kind this side does not know (a newer peer).
    #[error("unknown message kind {kind} (request {id})")]
    UnknownKind {
        /// The request id.
        id: u64,
        /// The kind number.
        kind: u32,
    },
}

impl DecodeError {
    /// The id of the message that failed, if known.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            DecodeError::Malformed { id, .. } => *id,
            DecodeError::UnknownKind { id, .. } => Some(*id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn postcard_take<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<(T, usize)> {
        postcard::take_from_bytes::<T>(bytes).ok().map(|(v, rest)| (v, rest.len()))
    }

    proptest! {
        /// The hand-written varint writes postcard's bytes.
        #[test]
        fn put_varint_is_postcards_encoding(v in any::<u64>()) {
            let mut ours = vec![9];
            put_varint(&mut ours, v);
            let mut theirs = vec![9];
            theirs.extend(postcard::to_allocvec(&v).unwrap());
            prop_assert_eq!(ours, theirs);
        }

        /// `append` (and `put`) add exactly postcard's bytes after what was there.
        #[test]
        fn append_is_postcards_encoding(
            before in proptest::collection::vec(any::<u8>(), 0..8),
            value in (any::<u64>(), ".{0,20}", proptest::collection::vec(any::<u8>(), 0..300), any::<Option<i32>>())
                .prop_map(|(n, s, b, o)| (n, s, serde_bytes::ByteBuf::from(b), o)),
        ) {
            let mut expected = before.clone();
            expected.extend(postcard::to_allocvec(&value).unwrap());
            prop_assert_eq!(&append(&value, before.clone()).unwrap(), &expected);
            let mut out = before;
            put(&mut out, &value);
            prop_assert_eq!(out, expected);
        }

        /// The hand-written readers accept exactly what postcard accepts, with the same
        /// value and the same rest, on any bytes.
        #[test]
        fn varint_readers_agree_with_postcard(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..12),
                proptest::collection::vec(0x80u8..=0xFF, 0..12),
                (0usize..11, any::<u8>()).prop_map(|(n, last)| { let mut v = vec![0xFF; n]; v.push(last); v }),
            ]
        ) {
            let mut r = Reader::new(&bytes);
            let ours = r.u64("x").ok().map(|v| (v, r.rest.len()));
            prop_assert_eq!(ours, postcard_take::<u64>(&bytes));
            let mut r = Reader::new(&bytes);
            let ours = r.u32("x").ok().map(|v| (v, r.rest.len()));
            prop_assert_eq!(ours, postcard_take::<u32>(&bytes));
        }
    }
}

#[cfg(test)]
mod put_tests {
    use super::*;

    /// A value whose serializer fails halfway.
    struct Fails;

    impl Serialize for Fails {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{Error, SerializeTuple};
            let mut t = s.serialize_tuple(2)?;
            t.serialize_element(&7u8)?;
            Err(S::Error::custom("refused"))
        }
    }

    #[test]
    fn a_failed_value_leaves_the_buffer_as_it_was() {
        let mut out = vec![1, 2, 3];
        put(&mut out, &Fails);
        assert_eq!(out, [1, 2, 3]);
        put(&mut out, &5u8);
        assert_eq!(out, [1, 2, 3, 5]);
    }
}
