//! Field-level encoding shared by requests and responses: postcard primitives read
//! from and written to a flat buffer, so a message is `postcard((id, kind, fields..))`
//! followed, for calls and values, by the raw argument or result bytes.

use serde::{Deserialize, Serialize};

/// Appends the postcard encoding of `value` to `out`.
pub(crate) fn put<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // postcard only fails on its own size limits or a serializer error; the values
    // written through here are integers, strings and plain structs, which never fail.
    if let Ok(v) = postcard::to_extend(value, std::mem::take(out)) {
        *out = v;
    }
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
