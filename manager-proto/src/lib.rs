//! The wire protocol of the Rust managers: frames, the handshake, requests and
//! responses, the errors that cross the wire, and the traits `#[shared]` code
//! implements. Pure: no sockets, no runtime, no clock, no randomness — everything here
//! is a function of its inputs, which is what makes it fuzzable.
//!
//! ```
//! use manager_proto::{frame, MethodRef, ObjectId, Request};
//!
//! // A client encodes a call into a frame...
//! let mut wire = Vec::new();
//! let start = frame::begin_frame(&mut wire);
//! Request::Call { object: ObjectId(3), method: MethodRef::Name("incr"), args: &[1] }.encode(42, &mut wire);
//! frame::finish_frame(&mut wire, start, frame::DEFAULT_MAX_FRAME).unwrap();
//!
//! // ...and the server splits the stream back into requests.
//! let mut decoder = frame::FrameDecoder::new(frame::DEFAULT_MAX_FRAME);
//! decoder.buffer_mut().extend_from_slice(&wire);
//! let payload = decoder.next_frame().unwrap().unwrap();
//! let (id, request) = Request::decode(payload).unwrap();
//! assert_eq!(id, 42);
//! assert!(matches!(request, Request::Call { object: ObjectId(3), .. }));
//! ```
//!
//! Rules the encoding keeps:
//! - a frame is a 4-byte big-endian length and a postcard payload; readers check the
//!   length against their limit before taking the payload ([`frame`]);
//! - every message starts with its request id and a fixed kind number; a kind unknown
//!   to the reader is reported with the id, so it can be answered, not dropped
//!   ([`DecodeError::UnknownKind`]);
//! - methods are named by [`method_id`] of their name, never by position;
//! - golden byte vectors in `tests/golden.rs` pin every message's encoding.

pub mod address;
pub mod authkey;
pub mod blocking;
// `#[macro_use]`: its `contract!` declares the pool's contract too (`pool.rs`, declared
// after it), by textual scope: `pool` names no item of `builtin`, so the two do not
// import each other (layering.rs).
#[macro_use]
pub mod builtin;
pub mod contract;
pub mod dispatch;
pub mod element;
pub mod error;
pub mod fingerprint;
pub mod frame;
/// The fuzz targets' checks (see `fuzz/`): not part of the API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
mod hosted;
pub mod hosting;
pub mod ids;
pub mod inspect;
pub mod outq;
mod pending;
pub mod pool;
pub mod proxy;
pub mod reply;
pub mod repr;
pub mod request;
pub mod response;
pub mod ring;
pub mod session;
pub mod shm;
pub mod spare;
pub mod stream;
mod stream_glue;
pub mod token;
pub mod watch;
mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use address::{Address, AddressError};
pub use authkey::{AuthKey, AuthKeyError};
pub use blocking::BlockingStream;
pub use blocking::{BlockingConnect, BlockingProxy, Executor};
pub use dispatch::{BoxFuture, CallResult, Dispatch, MethodInfo, Outcome, Receiver};
pub use element::Item;
pub use error::{Error, Lost, RemoteError, RemoteErrorKind};
pub use frame::FrameError;
pub use handshake::HandshakeError;
pub use hosting::Shared;
pub use ids::{MethodRef, NO_RESPONSE, ObjectId, RequestId, ServerId, method_id};
pub use pool::Job;
pub use proxy::{CallArgs, Connect, Handle, PendingReply, Proxy, Reply, ReplySource, Transport};
pub use request::Request;
pub use response::{Response, ServerStats, TypeDescription};
pub use stream::{RawStream, RemoteStream};
pub use token::{Token, TokenError};
pub use wire::DecodeError;

pub use postcard;
pub use serde;

/// A byte buffer that serializes as one byte string (`Vec<u8>` goes through serde one
/// byte at a time): use it for large binary values. Same wire format either way.
///
/// ```
/// let b = manager_proto::Bytes::from(vec![1u8, 2, 3]);
/// assert_eq!(postcard::to_allocvec(&b).unwrap(), postcard::to_allocvec(&vec![1u8, 2, 3]).unwrap());
/// ```
pub use serde_bytes::ByteBuf as Bytes;
