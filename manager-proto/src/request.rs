//! Requests: client to server.
//!
//! A request payload is the postcard encoding of `(id: u64, kind: u32, fields..)`; for
//! `Create` and `Call` the constructor or method arguments follow as raw bytes (the
//! postcard encoding of the argument tuple), so they are never copied into an
//! intermediate value. Kind numbers are fixed for ever; a kind this server does not
//! know is answered with [`RemoteErrorKind::UnknownRequest`](crate::RemoteErrorKind).

use crate::inspect::Query;
use crate::wire::{DecodeError, Reader, put, put_varint};
use crate::{MethodRef, ObjectId, RequestId};

/// The fixed kind numbers of requests.
pub mod kind {
    /// [`Request::Ping`](super::Request::Ping)
    pub const PING: u32 = 0;
    /// [`Request::Create`](super::Request::Create)
    pub const CREATE: u32 = 1;
    /// [`Request::Call`](super::Request::Call)
    pub const CALL: u32 = 2;
    /// [`Request::Cancel`](super::Request::Cancel)
    pub const CANCEL: u32 = 3;
    /// [`Request::Incref`](super::Request::Incref)
    pub const INCREF: u32 = 4;
    /// [`Request::Decref`](super::Request::Decref)
    pub const DECREF: u32 = 5;
    /// [`Request::GetNamed`](super::Request::GetNamed)
    pub const GET_NAMED: u32 = 6;
    /// [`Request::BindNamed`](super::Request::BindNamed)
    pub const BIND_NAMED: u32 = 7;
    /// [`Request::Describe`](super::Request::Describe)
    pub const DESCRIBE: u32 = 8;
    /// [`Request::ValueCopy`](super::Request::ValueCopy)
    pub const VALUE_COPY: u32 = 9;
    /// [`Request::Stats`](super::Request::Stats)
    pub const STATS: u32 = 10;
    /// [`Request::Shutdown`](super::Request::Shutdown)
    pub const SHUTDOWN: u32 = 11;
    /// [`Request::Ack`](super::Request::Ack)
    pub const ACK: u32 = 12;
    /// [`Request::Lease`](super::Request::Lease)
    pub const LEASE: u32 = 13;
    /// [`Request::Collect`](super::Request::Collect)
    pub const COLLECT: u32 = 14;
    /// [`Request::Open`](super::Request::Open)
    pub const OPEN: u32 = 15;
    /// [`Request::Credit`](super::Request::Credit)
    pub const CREDIT: u32 = 16;
    /// [`Request::Inspect`](super::Request::Inspect)
    pub const INSPECT: u32 = 17;
}

/// How a [`MethodRef`] is tagged on the wire.
const METHOD_BY_ID: u8 = 0;
const METHOD_BY_NAME: u8 = 1;

/// A request, borrowing its strings and argument bytes from the frame it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Liveness check; answered with `Pong`.
    Ping,
    /// Create an object of a registered type; the caller holds one reference to it.
    /// Answered with `Object`.
    Create {
        /// The registered type id.
        type_id: &'a str,
        /// What the creating proxy expects of the object beyond its type (see
        /// [`fingerprint`](crate::fingerprint)); empty for none. The server keeps it
        /// with the object, or checks it against a registered type's own.
        fingerprint: &'a str,
        /// The constructor's arguments, encoded as a tuple.
        args: &'a [u8],
    },
    /// Call a method. Answered with `Value` (the encoded result) or `Error`.
    Call {
        /// The object, which this connection must hold a reference to.
        object: ObjectId,
        /// The method.
        method: MethodRef<'a>,
        /// The arguments, encoded as a tuple.
        args: &'a [u8],
    },
    /// Drop the parked work of request `target` (a blocked `get`, a pending lock).
    /// Sent with id [`NO_RESPONSE`](crate::NO_RESPONSE).
    Cancel {
        /// The request to cancel.
        target: RequestId,
    },
    /// Take a reference to an object (attach a token). Answered with `Object`.
    Incref {
        /// The object.
        object: ObjectId,
    },
    /// Release a reference taken by `Create`, `Incref` or `GetNamed`. Usually sent with
    /// id [`NO_RESPONSE`](crate::NO_RESPONSE).
    Decref {
        /// The object.
        object: ObjectId,
    },
    /// Take a reference to a named object. Answered with `Object`.
    GetNamed {
        /// The name.
        name: &'a str,
    },
    /// Give a held object a name; named objects live until the server stops. Answered
    /// with `Done`.
    BindNamed {
        /// The name.
        name: &'a str,
        /// The object, held by this connection.
        object: ObjectId,
    },
    /// The exposed methods of a type. Answered with `Description`.
    Describe {
        /// The type id.
        type_id: &'a str,
    },
    /// A copy of the object's value (Python's `_getvalue`). Answered with `Value`.
    ValueCopy {
        /// The object.
        object: ObjectId,
    },
    /// Server statistics. Answered with `Stats`.
    Stats,
    /// Ask the server to shut down (if it allows that). Answered with `Done`.
    Shutdown,
    /// Confirms that the value of a `Transfer` response reached its caller, so the
    /// server forgets how to undo it. Sent with id [`NO_RESPONSE`](crate::NO_RESPONSE).
    Ack {
        /// The request whose `Transfer` response was delivered.
        target: RequestId,
    },
    /// Have the server itself hold `object`, which this connection holds, for the
    /// server's lease length from now: a token minted for another process stays good
    /// while it travels, whoever drops their proxy meanwhile. One lease per object:
    /// another `Lease` moves the deadline. Usually sent with id
    /// [`NO_RESPONSE`](crate::NO_RESPONSE); otherwise answered with `Done`.
    Lease {
        /// The object.
        object: ObjectId,
    },
    /// Run the server's cycle collector now: free the objects that only keep each
    /// other alive. Answered with `Value`: how many it freed, as a postcard `u64`.
    Collect,
    /// Open a stream: call a method whose answer is a sequence (an iterator method, a
    /// live iteration, a watch). The request's id names the stream: the server answers
    /// it with any number of `Items` batches, then `End` or `Error`, sending batches
    /// while the stream has credit — the bytes of items the client has room for, `credit`
    /// to start with and more with each `Credit`. A `Cancel` with the stream's id
    /// closes it; the connection's end closes them all.
    Open {
        /// The object, which this connection must hold a reference to.
        object: ObjectId,
        /// The stream method.
        method: MethodRef<'a>,
        /// Bytes of items the server may send before it hears of more room.
        credit: u32,
        /// The arguments, encoded as a tuple.
        args: &'a [u8],
    },
    /// The client consumed `bytes` of stream `target`'s items: the server may send that
    /// many more. Sent with id [`NO_RESPONSE`](crate::NO_RESPONSE).
    Credit {
        /// The stream (the id of its `Open`).
        target: RequestId,
        /// Bytes of room added.
        bytes: u32,
    },
    /// Describe the server's objects or connections (see [`inspect`](crate::inspect)).
    /// Answered with `Value`: the postcard encoding of the reports the query names.
    Inspect {
        /// What to describe.
        query: Query<'a>,
    },
}

impl<'a> Request<'a> {
    /// The request's kind number.
    pub fn kind(&self) -> u32 {
        match self {
            Request::Ping => kind::PING,
            Request::Create { .. } => kind::CREATE,
            Request::Call { .. } => kind::CALL,
            Request::Cancel { .. } => kind::CANCEL,
            Request::Incref { .. } => kind::INCREF,
            Request::Decref { .. } => kind::DECREF,
            Request::GetNamed { .. } => kind::GET_NAMED,
            Request::BindNamed { .. } => kind::BIND_NAMED,
            Request::Describe { .. } => kind::DESCRIBE,
            Request::ValueCopy { .. } => kind::VALUE_COPY,
            Request::Stats => kind::STATS,
            Request::Shutdown => kind::SHUTDOWN,
            Request::Ack { .. } => kind::ACK,
            Request::Lease { .. } => kind::LEASE,
            Request::Collect => kind::COLLECT,
            Request::Open { .. } => kind::OPEN,
            Request::Credit { .. } => kind::CREDIT,
            Request::Inspect { .. } => kind::INSPECT,
        }
    }

    /// Appends the payload (no frame header) of request `id` to `out`.
    pub fn encode(&self, id: RequestId, out: &mut Vec<u8>) {
        put_varint(out, id);
        put_varint(out, self.kind().into());
        match self {
            Request::Ping | Request::Stats | Request::Shutdown | Request::Collect => {}
            Request::Create { type_id, fingerprint, args } => {
                put(out, *type_id);
                put(out, *fingerprint);
                out.extend_from_slice(args);
            }
            Request::Call { object, method, args } => {
                put_varint(out, object.0);
                put_method(out, method);
                out.extend_from_slice(args);
            }
            Request::Open { object, method, credit, args } => {
                put_varint(out, object.0);
                put_method(out, method);
                put_varint(out, (*credit).into());
                out.extend_from_slice(args);
            }
            Request::Credit { target, bytes } => {
                put_varint(out, *target);
                put_varint(out, (*bytes).into());
            }
            Request::Cancel { target } | Request::Ack { target } => put_varint(out, *target),
            Request::Incref { object } | Request::Decref { object } | Request::Lease { object } => {
                put_varint(out, object.0)
            }
            Request::ValueCopy { object } => put_varint(out, object.0),
            Request::GetNamed { name } => put(out, *name),
            Request::BindNamed { name, object } => {
                put(out, *name);
                put_varint(out, object.0);
            }
            Request::Describe { type_id } => put(out, *type_id),
            Request::Inspect { query } => put(out, query),
        }
    }

    /// Decodes a request payload into its id and request.
    pub fn decode(payload: &'a [u8]) -> Result<(RequestId, Request<'a>), DecodeError> {
        let mut r = Reader::new(payload);
        let id: u64 = r.u64("request id").map_err(|reason| DecodeError::Malformed { id: None, reason })?;
        let malformed = |reason| DecodeError::Malformed { id: Some(id), reason };
        let kind: u32 = r.u32("request kind").map_err(malformed)?;
        let object = |r: &mut Reader<'a>| r.u64("object id").map(ObjectId);
        let req = (|| -> Result<Request<'a>, Fault> {
            Ok(match kind {
                kind::PING => finished(r, Request::Ping)?,
                kind::STATS => finished(r, Request::Stats)?,
                kind::SHUTDOWN => finished(r, Request::Shutdown)?,
                kind::COLLECT => finished(r, Request::Collect)?,
                kind::CREATE => {
                    let type_id = r.get("type id")?;
                    Request::Create { type_id, fingerprint: r.get("fingerprint")?, args: r.rest() }
                }
                kind::CALL => {
                    let object = object(&mut r)?;
                    let method = method(&mut r)?;
                    Request::Call { object, method, args: r.rest() }
                }
                kind::OPEN => {
                    let object = object(&mut r)?;
                    let method = method(&mut r)?;
                    let credit = r.u32("stream credit")?;
                    Request::Open { object, method, credit, args: r.rest() }
                }
                kind::CREDIT => {
                    let target = r.get("credit target")?;
                    let bytes = r.u32("credit bytes")?;
                    finished(r, Request::Credit { target, bytes })?
                }
                kind::CANCEL => {
                    let target = r.get("cancel target")?;
                    finished(r, Request::Cancel { target })?
                }
                kind::ACK => {
                    let target = r.get("ack target")?;
                    finished(r, Request::Ack { target })?
                }
                kind::INCREF => {
                    let object = object(&mut r)?;
                    finished(r, Request::Incref { object })?
                }
                kind::DECREF => {
                    let object = object(&mut r)?;
                    finished(r, Request::Decref { object })?
                }
                kind::LEASE => {
                    let object = object(&mut r)?;
                    finished(r, Request::Lease { object })?
                }
                kind::VALUE_COPY => {
                    let object = object(&mut r)?;
                    finished(r, Request::ValueCopy { object })?
                }
                kind::GET_NAMED => {
                    let name = r.get("name")?;
                    finished(r, Request::GetNamed { name })?
                }
                kind::BIND_NAMED => {
                    let name = r.get("name")?;
                    let object = object(&mut r)?;
                    finished(r, Request::BindNamed { name, object })?
                }
                kind::DESCRIBE => {
                    let type_id = r.get("type id")?;
                    finished(r, Request::Describe { type_id })?
                }
                kind::INSPECT => {
                    let query = r.get("inspect query")?;
                    finished(r, Request::Inspect { query })?
                }
                _ => return Err(Fault::UnknownKind),
            })
        })();
        match req {
            Ok(req) => Ok((id, req)),
            Err(Fault::UnknownKind) => Err(DecodeError::UnknownKind { id, kind }),
            Err(Fault::Malformed(reason)) => Err(malformed(reason)),
        }
    }
}

/// Why a request's fields did not decode.
enum Fault {
    /// A kind this side does not know (a newer peer): answered, not fatal.
    UnknownKind,
    /// The fields of a known kind are wrong.
    Malformed(String),
}

impl From<String> for Fault {
    fn from(reason: String) -> Fault {
        Fault::Malformed(reason)
    }
}

fn put_method(out: &mut Vec<u8>, method: &MethodRef<'_>) {
    match method {
        MethodRef::Id(mid) => {
            out.push(METHOD_BY_ID);
            out.extend_from_slice(&mid.to_le_bytes());
        }
        MethodRef::Name(name) => {
            out.push(METHOD_BY_NAME);
            put(out, *name);
        }
    }
}

fn method<'a>(r: &mut Reader<'a>) -> Result<MethodRef<'a>, Fault> {
    let [tag] = r.fixed::<1>("method tag")?;
    Ok(match tag {
        METHOD_BY_ID => MethodRef::Id(u32::from_le_bytes(r.fixed("method id")?)),
        METHOD_BY_NAME => MethodRef::Name(r.get("method name")?),
        other => return Err(Fault::Malformed(format!("unknown method tag {other}"))),
    })
}

fn finished<'a>(r: Reader<'a>, req: Request<'a>) -> Result<Request<'a>, Fault> {
    Ok(r.finish().map(|()| req)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kind_keeps_the_id_so_the_server_can_answer() {
        let mut out = Vec::new();
        put(&mut out, &77u64);
        put(&mut out, &4000u32);
        out.extend_from_slice(b"whatever a newer client sends");
        assert_eq!(Request::decode(&out), Err(DecodeError::UnknownKind { id: 77, kind: 4000 }));
    }

    #[test]
    fn trailing_bytes_and_truncation_are_malformed() {
        let mut out = Vec::new();
        Request::Ping.encode(5, &mut out);
        out.push(0);
        assert!(matches!(Request::decode(&out), Err(DecodeError::Malformed { id: Some(5), .. })));
        assert!(matches!(Request::decode(&[]), Err(DecodeError::Malformed { id: None, .. })));
        let mut call = Vec::new();
        Request::Call { object: ObjectId(1), method: MethodRef::Id(9), args: &[] }.encode(3, &mut call);
        call.truncate(call.len() - 2);
        assert!(matches!(Request::decode(&call), Err(DecodeError::Malformed { id: Some(3), .. })));
    }
}
