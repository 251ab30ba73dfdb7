//! The harness of the `live_requests` fuzz target (`fuzz/`): arbitrary requests from an
//! authenticated peer against live built-in objects, through the server's real request
//! handler.
//!
//! Why: one request from a key holder must not hang the server, crash it, or make it keep
//! what it should let go. The protocol fuzzers (`manager-proto/fuzz`) reach the decoders
//! only. Here every input is a small program ([`run`] describes the encoding) that creates
//! built-in objects and calls their methods with arguments that decode, so the fuzzer gets
//! past "no such object" and "bad arguments" to the methods themselves. Numbers come from
//! a table of adversarial values (0, ±1, the extremes, 2^24, 2^40, NaN, ±inf) or straight
//! from the input.
//!
//! Each input is played by a client over a real socket pair to a real [`Connection`], served
//! as [`crate::ServerBuilder::start`] serves an authenticated peer (only the handshake is
//! skipped), on server state made as `start` makes it, fresh for each input so that an
//! input replays alike on its own. The checks, each a panic (a fuzz crash):
//! - no reply is a `Panicked` error: no peer input may reach a panic;
//! - every reply is a frame within the size limit that decodes as a response;
//! - a stream's replies are well-formed: a batch has items (as many `Item`s as it says,
//!   for a list's `iter`), and no batch or `End` comes for a stream not opened or already
//!   ended (an id may be opened again, which ends the stream it named silently);
//! - a `Ping` sent last is answered (every request before it was handled), unless the input
//!   may legitimately end the connection (a raw frame, an oversized frame, an allowed
//!   shutdown);
//! - once the client has closed and the connection has ended, no call is parked, no
//!   connection is counted, and no object is left: every reference the connection held was
//!   released, and a cycle collection freed the cycles (raw bytes can store a reference
//!   to any object in any container). This last check is skipped when a name was bound
//!   (a name holds its object until the server stops);
//! - leases outlive the connection: every object leased when it ended is still there after
//!   that collection; then the lease length passes, and the lease sweeper (run as
//!   [`crate::ServerBuilder::start`] runs it) has released every lease before the check
//!   above, so that a leased object must be gone by then like any other.
//!
//! A hang (an endless loop in a call) is left to libFuzzer's `-timeout`, a huge allocation
//! to its `-rss_limit_mb` / `-malloc_limit_mb`: both are findings. Under libFuzzer a panic
//! aborts where it happens (libfuzzer-sys's panic hook), even one the server would catch
//! and answer `Panicked`, so the report names the line.
//!
//! Time runs on tokio's paused clock: when the client and the server both wait, the clock
//! jumps to the next timer, so the timeouts in inputs (up to the server's cap of 1e9 s)
//! fire at once and a parked call costs no real time.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a panic is how this harness reports a failed check")]

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use manager_proto::builtin as b;
use manager_proto::frame::{FrameDecoder, encode_frame};
use manager_proto::inspect::Query;
use manager_proto::outq::OWNED_BODY_MIN;
use manager_proto::{
    AuthKey, Item, MethodRef, NO_RESPONSE, ObjectId, RemoteErrorKind, Request, RequestId, Response, ServerStats,
    method_id,
};
use serde::Serialize;
use tokio::sync::Notify;

use crate::config::Config;
use crate::connection::Connection;
use crate::state::Shared;
use crate::stream::Stream;

/// Runs one input against a fresh server state and checks what happened (see the module
/// docs); panics when a check fails.
///
/// The input: a configuration byte, then operations, each an opcode byte, a length byte and
/// that many payload bytes (a payload read past its end reads zeros, so an all-zero payload
/// means "the first choice everywhere"). Configuration: bits 0–1 pick the frame limit (2:
/// 1 KiB, 3: 16 KiB, else the default), bit 2 allows remote shutdown. The opcode's low four
/// bits pick the operation:
///
/// | op | payload | sends |
/// |----|---------|-------|
/// | 0 | type, constructor arguments | `Create` with arguments made from the payload (see below); waits for the object's id |
/// | 1 | type, raw bytes | `Create` with the raw bytes as arguments |
/// | 2–4 | object, method, arguments | `Call` of one of the type's exposed methods, by name (or by id: method byte ≥ 0x80) |
/// | 5 | object, method, raw bytes | `Call` with the raw bytes as arguments |
/// | 6 | object | `ValueCopy` |
/// | 7, 8 | which | `Cancel`, `Ack` of one of the last four requests |
/// | 9, 10 | object | `Incref`, `Decref` |
/// | 11 | | `Ping` |
/// | 12 | which, … | 0 (or no payload), then 0 (or nothing): `Ping`, and waits for the `Pong` (replies and timers catch up); odd, object: `Lease`; even, then 0 (or nothing): `Collect`; even, then `q` ≠ 0: `Inspect` by `q % 3` — connections, one object, objects (of a type, by index); 0 then `s` ≠ 0: a stream operation by `s % 4` — `Open` (object, method, credit, arguments; raw ones if `s` ≥ 0x80), `Credit` (stream, amount), `Cancel` (stream), `Credit` of every stream opened (amount) |
/// | 13 | how long | waits 0, 1 ms, 10 ms, 1 s, 1 min or 10⁶ s (paused time) |
/// | 14 | raw bytes | the bytes as a request frame |
/// | 15 | what, … | `Describe`, `Stats`, `GetNamed`, `BindNamed`, `Shutdown` |
///
/// The high four bits: 0xF sends the request with no response wanted, 0xE with the previous
/// request's id again; otherwise ids are fresh. For a `Create` they also pick the
/// fingerprint it carries (see [`driver::FINGERPRINTS`]; 0: none), which a built-in must
/// keep and answer with as it was given. An object byte picks among the objects
/// created so far (≥ 0xF0: an id nobody holds); a type byte indexes the built-ins in
/// [`manager_proto::builtin`] order (dict first, barrier last). Arguments follow each
/// method's signature, one selector byte per value (more for some): numbers from tables of
/// adversarial values (a selector ≥ 0xE0 reads eight raw bytes instead), elements from a few
/// small encodings that collide, numbers' encodings, raw bytes, or a 64 KiB element, with
/// references (selector ≥ 0xC0) to existing objects.
pub fn run(data: &[u8]) {
    check(&play(data));
}

/// What one input did, for the checks and the tests.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Every reply, in order.
    pub(crate) replies: Vec<(RequestId, Answer)>,
    /// Whether the last `Ping` was answered.
    pub(crate) pong: bool,
    /// Whether the input may make the server end the connection early.
    pub(crate) may_close_early: bool,
    /// How many leases ran when the connection had ended.
    pub(crate) leases_at_close: usize,
    /// Objects leased when the connection ended that were gone from the table then.
    pub(crate) lost_leases: Vec<ObjectId>,
    /// The server's figures after the connection ended and the lease length passed.
    pub(crate) stats: ServerStats,
}

/// A reply, summarized.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Answer {
    Pong,
    Value(Vec<u8>),
    /// The object, its type id and fingerprint.
    Object(ObjectId, String, String),
    Done,
    Description(Vec<String>),
    Stats,
    Error(RemoteErrorKind, String),
    Transfer(Vec<u8>),
    Grant(Vec<u8>),
    /// A stream's batch: its count and bytes.
    Items(u32, Vec<u8>),
    /// A stream's end.
    End,
}

impl Answer {
    fn of(response: &Response<'_>) -> Answer {
        match response {
            Response::Pong => Answer::Pong,
            Response::Value(v) => Answer::Value(v.to_vec()),
            Response::Object { id, type_id, fingerprint } => {
                Answer::Object(*id, (*type_id).to_owned(), (*fingerprint).to_owned())
            }
            Response::Done => Answer::Done,
            Response::Description(d) => Answer::Description(d.methods.clone()),
            Response::Stats(_) => Answer::Stats,
            Response::Error(e) => Answer::Error(e.kind, e.message.clone()),
            Response::Transfer(v) => Answer::Transfer(v.to_vec()),
            Response::Grant(v) => Answer::Grant(v.to_vec()),
            Response::Items { count, items } => Answer::Items(*count, items.to_vec()),
            Response::End => Answer::End,
        }
    }
}

/// The checks of the module docs.
fn check(outcome: &Outcome) {
    for (id, answer) in &outcome.replies {
        if let Answer::Error(RemoteErrorKind::Panicked, message) = answer {
            panic!("request {id} reached a panic in the server: {message}");
        }
    }
    assert!(
        outcome.pong || outcome.may_close_early,
        "the connection ended, or stopped answering, before the last ping was answered"
    );
    assert!(
        outcome.lost_leases.is_empty(),
        "leased objects were freed when their connection ended: {:?}",
        outcome.lost_leases
    );
    let stats = &outcome.stats;
    assert_eq!(
        stats.leases, 0,
        "leases still running after the lease length passed ({} ran when the connection ended)",
        outcome.leases_at_close
    );
    assert_eq!(stats.parked_calls, 0, "calls still parked after their connection ended");
    assert_eq!(stats.streams, 0, "streams still open after their connection ended");
    assert_eq!(stats.connections, 0, "the connection is still counted after it ended");
    if stats.named == 0 {
        assert_eq!(
            stats.objects, 0,
            "objects outlived the only connection that held them: {:?}",
            stats.objects_by_type
        );
    }
}

/// Most requests one input sends: well under a connection's 1024 parked calls, past which
/// the server stops reading and the last ping could never be answered.
const MAX_REQUESTS: usize = 400;

/// The first request id the harness uses (raw frames pick their own, rarely these).
pub(crate) const FIRST_ID: RequestId = 1 << 32;

/// How far the paused clock may run before the runtime is replaced (far from where tokio's
/// millisecond ticks overflow).
const CLOCK_BUDGET: Duration = Duration::from_secs(1 << 40);

mod driver;
mod input;
#[cfg(test)]
mod inspect_tests;
#[cfg(test)]
mod program;
mod session;
#[cfg(test)]
mod stream_tests;
mod streams;
#[cfg(test)]
mod tests;

use driver::*;
pub(crate) use input::TYPES;
use input::*;
use session::*;
use streams::*;
