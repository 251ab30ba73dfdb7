//! Responses: server to client, matched to requests by id, in any order.
//!
//! A response payload is the postcard encoding of `(id: u64, kind: u32, fields..)`; a
//! `Value` carries the encoded result as the rest of the payload.

use crate::wire::{DecodeError, Reader, put, put_varint};
use crate::{ObjectId, RemoteError, RequestId};
use serde::{Deserialize, Serialize};

/// The fixed kind numbers of responses.
pub mod kind {
    /// [`Response::Pong`](super::Response::Pong)
    pub const PONG: u32 = 0;
    /// [`Response::Value`](super::Response::Value)
    pub const VALUE: u32 = 1;
    /// [`Response::Object`](super::Response::Object)
    pub const OBJECT: u32 = 2;
    /// [`Response::Done`](super::Response::Done)
    pub const DONE: u32 = 3;
    /// [`Response::Description`](super::Response::Description)
    pub const DESCRIPTION: u32 = 4;
    /// [`Response::Stats`](super::Response::Stats)
    pub const STATS: u32 = 5;
    /// [`Response::Error`](super::Response::Error)
    pub const ERROR: u32 = 6;
    /// [`Response::Transfer`](super::Response::Transfer)
    pub const TRANSFER: u32 = 7;
    /// [`Response::Grant`](super::Response::Grant)
    pub const GRANT: u32 = 8;
    /// [`Response::Items`](super::Response::Items)
    pub const ITEMS: u32 = 9;
    /// [`Response::End`](super::Response::End)
    pub const END: u32 = 10;
}

/// A type's exposed interface, answered to `Describe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeDescription {
    /// The type id.
    pub type_id: String,
    /// The exposed method names (Python's `exposed`).
    pub methods: Vec<String>,
}

/// What the server reports about itself, answered to `Stats`.
///
/// Fields may be added at the end in later versions; older clients ignore them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Live objects (named ones included).
    pub objects: u64,
    /// Named objects.
    pub named: u64,
    /// Open, authenticated connections.
    pub connections: u64,
    /// Requests served since start.
    pub requests: u64,
    /// Calls parked right now (blocked waits, running async methods).
    pub parked_calls: u64,
    /// Live objects per type id, sorted by type id.
    pub objects_by_type: Vec<(String, u64)>,
    /// Transfers (queue gets, lock grants) answered but undone because the caller had
    /// given up or gone: each an item or lock that would otherwise have been lost.
    pub transfers_undone: u64,
    /// Tokens' leases running now: objects the server itself holds because a token
    /// for them was minted less than a lease length ago (see `Request::Lease`).
    pub leases: u64,
    /// Objects the cycle collector freed since start: containers that only kept each
    /// other alive (see `ServerBuilder::collect_cycles`).
    pub cycles_collected: u64,
    /// Streams open right now (iterations, watches), over all connections.
    pub streams: u64,
}

/// A response, borrowing result bytes from the frame it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response<'a> {
    /// Answer to `Ping`.
    Pong,
    /// A method's result or an object's value, encoded.
    Value(&'a [u8]),
    /// The object a `Create`, `Incref` or `GetNamed` gave the caller a reference to.
    Object {
        /// Its id.
        id: ObjectId,
        /// Its type id, so the client can check it against the proxy type.
        type_id: &'a str,
        /// Its [`fingerprint`](crate::fingerprint), empty for none: the client checks
        /// it against the proxy's before handing the proxy out.
        fingerprint: &'a str,
    },
    /// Success with nothing to return.
    Done,
    /// Answer to `Describe`.
    Description(TypeDescription),
    /// Answer to `Stats`.
    Stats(ServerStats),
    /// The request failed.
    Error(RemoteError),
    /// A value whose taking the server can undo: an item got from a queue, a lock
    /// granted. The client answers `Ack` once the value reaches its caller; if the
    /// caller gave up first, the client's `Cancel` makes the server undo it (the item
    /// goes back, the lock is released), so nothing is ever taken by nobody.
    Transfer(&'a [u8]),
    /// Something the caller's connection now holds (a lock, a semaphore's permit), which
    /// the server takes back anyway when the connection ends. A `Cancel` undoes it as it
    /// does a `Transfer`, but the client need not hurry its `Ack`: it may send it along
    /// with its next request, which saves a message per `acquire`. (A queue item is a
    /// `Transfer`: until acknowledged, a client's crash would send it to someone else.)
    Grant(&'a [u8]),
    /// A batch of a stream's items (see `Request::Open`): `count` items, each encoded
    /// as the stream's item type, one after the other. More may follow.
    Items {
        /// How many items `items` holds.
        count: u32,
        /// The items' encodings, concatenated.
        items: &'a [u8],
    },
    /// The stream has no more items: the last answer to its `Open`.
    End,
}

impl<'a> Response<'a> {
    /// The response's kind number.
    pub fn kind(&self) -> u32 {
        match self {
            Response::Pong => kind::PONG,
            Response::Value(_) => kind::VALUE,
            Response::Object { .. } => kind::OBJECT,
            Response::Done => kind::DONE,
            Response::Description(_) => kind::DESCRIPTION,
            Response::Stats(_) => kind::STATS,
            Response::Error(_) => kind::ERROR,
            Response::Transfer(_) => kind::TRANSFER,
            Response::Grant(_) => kind::GRANT,
            Response::Items { .. } => kind::ITEMS,
            Response::End => kind::END,
        }
    }

    /// Appends the payload (no frame header) of the response to request `id` to `out`.
    pub fn encode(&self, id: RequestId, out: &mut Vec<u8>) {
        put_varint(out, id);
        put_varint(out, self.kind().into());
        match self {
            Response::Pong | Response::Done | Response::End => {}
            Response::Items { count, items } => {
                put_varint(out, (*count).into());
                out.extend_from_slice(items);
            }
            Response::Value(bytes) | Response::Transfer(bytes) | Response::Grant(bytes) => {
                out.extend_from_slice(bytes);
            }
            Response::Object { id, type_id, fingerprint } => {
                put_varint(out, id.0);
                put(out, *type_id);
                put(out, *fingerprint);
            }
            Response::Description(d) => put(out, d),
            Response::Stats(s) => put(out, s),
            Response::Error(e) => put(out, e),
        }
    }

    /// Appends the header of a `Value` response; the caller appends the value's bytes.
    /// Lets a server encode a result straight into its output buffer.
    pub fn encode_value_header(id: RequestId, out: &mut Vec<u8>) {
        put_varint(out, id);
        put_varint(out, kind::VALUE.into());
    }

    /// Decodes a response payload into its id and response.
    pub fn decode(payload: &'a [u8]) -> Result<(RequestId, Response<'a>), DecodeError> {
        let (id, kind, mut r) = Self::header(payload)?;
        let malformed = |reason| DecodeError::Malformed { id: Some(id), reason };
        let resp = match kind {
            kind::PONG => Response::Pong,
            kind::DONE => Response::Done,
            kind::END => Response::End,
            kind::ITEMS => {
                let count = r.u32("item count").map_err(malformed)?;
                return Ok((id, Response::Items { count, items: r.rest() }));
            }
            kind::VALUE => return Ok((id, Response::Value(r.rest()))),
            kind::TRANSFER => return Ok((id, Response::Transfer(r.rest()))),
            kind::GRANT => return Ok((id, Response::Grant(r.rest()))),
            kind::OBJECT => Response::Object {
                id: ObjectId(r.u64("object id").map_err(malformed)?),
                type_id: r.get("type id").map_err(malformed)?,
                fingerprint: r.get("fingerprint").map_err(malformed)?,
            },
            kind::DESCRIPTION => Response::Description(r.get("description").map_err(malformed)?),
            // Stats may grow fields at the end: ignore what this version does not know.
            kind::STATS => return Ok((id, Response::Stats(r.get("stats").map_err(malformed)?))),
            kind::ERROR => Response::Error(r.get("error").map_err(malformed)?),
            kind => return Err(DecodeError::UnknownKind { id, kind }),
        };
        r.finish().map_err(malformed)?;
        Ok((id, resp))
    }

    /// Appends the header of an `Items` batch of `count` items; the caller appends the
    /// items' bytes.
    pub fn encode_items_header(id: RequestId, count: u32, out: &mut Vec<u8>) {
        put_varint(out, id);
        put_varint(out, kind::ITEMS.into());
        put_varint(out, count.into());
    }

    /// Whether a response of `kind` is the last its request gets: all are but a
    /// stream's `Items`.
    pub fn is_final(kind: u32) -> bool {
        kind != kind::ITEMS
    }

    /// Reads just the id: a client's reader task routes a response by id and leaves the
    /// body to the caller that waits for it.
    pub fn peek_id(payload: &'a [u8]) -> Result<RequestId, DecodeError> {
        Self::header(payload).map(|(id, _, _)| id)
    }

    /// Reads just the id and kind.
    pub fn peek_kind(payload: &'a [u8]) -> Result<(RequestId, u32), DecodeError> {
        Self::header(payload).map(|(id, kind, _)| (id, kind))
    }

    /// Reads the id and kind, and where the body starts: for a `Value` or `Transfer`
    /// the value's bytes are `payload[body..]`, so a client that routed a response by
    /// its header need not decode it again.
    ///
    /// ```
    /// use manager_proto::{Response, response::kind};
    /// let mut payload = Vec::new();
    /// Response::Value(&[7, 8]).encode(300, &mut payload);
    /// let (id, k, body) = Response::peek_header(&payload).unwrap();
    /// assert_eq!((id, k, &payload[body..]), (300, kind::VALUE, &[7u8, 8][..]));
    /// ```
    pub fn peek_header(payload: &'a [u8]) -> Result<(RequestId, u32, usize), DecodeError> {
        Self::header(payload).map(|(id, kind, rest)| (id, kind, payload.len() - rest.rest().len()))
    }

    fn header(payload: &'a [u8]) -> Result<(RequestId, u32, Reader<'a>), DecodeError> {
        let mut r = Reader::new(payload);
        let id: u64 = r.u64("response id").map_err(|reason| DecodeError::Malformed { id: None, reason })?;
        let kind: u32 = r.u32("response kind").map_err(|reason| DecodeError::Malformed { id: Some(id), reason })?;
        Ok((id, kind, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RemoteErrorKind;

    #[test]
    fn value_header_then_bytes_equals_encoded_value() {
        let mut a = Vec::new();
        Response::Value(&[1, 2, 3]).encode(9, &mut a);
        let mut b = Vec::new();
        Response::encode_value_header(9, &mut b);
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(a, b);
    }

    #[test]
    fn errors_round_trip() {
        let e = Response::Error(RemoteError::new(RemoteErrorKind::Panicked, "boom"));
        let mut out = Vec::new();
        e.encode(1, &mut out);
        assert_eq!(Response::decode(&out), Ok((1, e)));
    }
}
