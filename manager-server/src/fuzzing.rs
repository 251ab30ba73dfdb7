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
//! - a `Ping` sent last is answered (every request before it was handled), unless the input
//!   may legitimately end the connection (a raw frame, an oversized frame, an allowed
//!   shutdown);
//! - once the client has closed and the connection has ended, no call is parked, no
//!   connection is counted, and no object is left: every reference the connection held was
//!   released. This last check is skipped when a name was bound (a name holds its object
//!   until the server stops) or raw bytes went out (they can store a reference to any
//!   object in any container, and a cycle of references is never freed, as in Python's
//!   managers). The structured calls store references only to objects older than the
//!   container, which can make no cycle.
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
/// | 12 | | `Ping`, and waits for the `Pong` (replies and timers catch up) |
/// | 13 | how long | waits 0, 1 ms, 10 ms, 1 s, 1 min or 10⁶ s (paused time) |
/// | 14 | raw bytes | the bytes as a request frame |
/// | 15 | what, … | `Describe`, `Stats`, `GetNamed`, `BindNamed`, `Shutdown` |
///
/// The high four bits: 0xF sends the request with no response wanted, 0xE with the previous
/// request's id again; otherwise ids are fresh. An object byte picks among the objects
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
    /// Whether raw bytes went out, which can store a reference to any object anywhere.
    pub(crate) raw: bool,
    /// The server's figures after the connection ended.
    pub(crate) stats: ServerStats,
}

/// A reply, summarized.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Answer {
    Pong,
    Value(Vec<u8>),
    Object(ObjectId, String),
    Done,
    Description(Vec<String>),
    Stats,
    Error(RemoteErrorKind, String),
    Transfer(Vec<u8>),
    Grant(Vec<u8>),
}

impl Answer {
    fn of(response: &Response<'_>) -> Answer {
        match response {
            Response::Pong => Answer::Pong,
            Response::Value(v) => Answer::Value(v.to_vec()),
            Response::Object { id, type_id } => Answer::Object(*id, (*type_id).to_owned()),
            Response::Done => Answer::Done,
            Response::Description(d) => Answer::Description(d.methods.clone()),
            Response::Stats(_) => Answer::Stats,
            Response::Error(e) => Answer::Error(e.kind, e.message.clone()),
            Response::Transfer(v) => Answer::Transfer(v.to_vec()),
            Response::Grant(v) => Answer::Grant(v.to_vec()),
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
    let stats = &outcome.stats;
    assert_eq!(stats.parked_calls, 0, "calls still parked after their connection ended");
    assert_eq!(stats.connections, 0, "the connection is still counted after it ended");
    if !outcome.raw && stats.named == 0 {
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

/// Every built-in: its type id, its constructor's signature, and its exposed methods with
/// theirs (the argument tuples the server decodes in `builtins/*.rs`). A unit test holds
/// the names to the registry's. One letter a value: `i` i64, `o` `Option<i64>`, `u` u64,
/// `w` an owner id (u64), `b` bool, `t` a timeout (`Option<f64>`), `I` an element, `V`
/// `Vec` of elements, `P` `Vec` of element pairs, `S` a name, `N` `Vec<(String, Item)>`,
/// `K` a `NumKind`, `B` a number's encoding (bytes), `c` a condition's lock
/// (`Option<Item>`).
pub(crate) const TYPES: &[(&str, &str, Methods)] = &[
    (
        b::DICT,
        "P",
        &[
            ("get", "I"),
            ("insert", "II"),
            ("remove", "I"),
            ("contains", "I"),
            ("len", ""),
            ("keys", ""),
            ("values", ""),
            ("items", ""),
            ("pop", "I"),
            ("pop_or", "II"),
            ("popitem", ""),
            ("setdefault", "II"),
            ("update", "P"),
            ("clear", ""),
            ("merged", "P"),
        ],
    ),
    (
        b::LIST,
        "V",
        &[
            ("get", "i"),
            ("set", "iI"),
            ("delete", "i"),
            ("slice", "ooo"),
            ("set_slice", "ooV"),
            ("delete_slice", "ooo"),
            ("append", "I"),
            ("extend", "V"),
            ("insert", "iI"),
            ("pop", "o"),
            ("remove", "I"),
            ("index", "Ioo"),
            ("count", "I"),
            ("contains", "I"),
            ("reverse", ""),
            ("repeat", "u"),
            ("clear", ""),
            ("len", ""),
            ("snapshot", ""),
            ("versioned", ""),
            ("replace_if", "uV"),
        ],
    ),
    (
        b::SET,
        "V",
        &[
            ("add", "I"),
            ("discard", "I"),
            ("remove", "I"),
            ("contains", "I"),
            ("len", ""),
            ("pop", ""),
            ("clear", ""),
            ("snapshot", ""),
            ("union", "V"),
            ("intersection", "V"),
            ("difference", "V"),
            ("symmetric_difference", "V"),
            ("update", "V"),
            ("intersection_update", "V"),
            ("difference_update", "V"),
            ("symmetric_difference_update", "V"),
            ("isdisjoint", "V"),
            ("issubset", "V"),
            ("issuperset", "V"),
        ],
    ),
    (
        b::NAMESPACE,
        "N",
        &[("get", "S"), ("set", "SI"), ("delete", "S"), ("contains", "S"), ("names", ""), ("items", "")],
    ),
    (
        b::VALUE,
        "I",
        &[
            ("get", ""),
            ("set", "I"),
            ("swap", "I"),
            ("compare_exchange", "II"),
            ("fetch_add", "KB"),
            ("fetch_sub", "KB"),
        ],
    ),
    (
        b::ARRAY,
        "V",
        &[("len", ""), ("get", "i"), ("set", "iI"), ("slice", "ooo"), ("set_slice", "oooV"), ("snapshot", "")],
    ),
    (b::QUEUE, "u", QUEUE_METHODS),
    (b::JOINABLE_QUEUE, "u", QUEUE_METHODS),
    (b::LOCK, "", LOCK_METHODS),
    (b::RLOCK, "", LOCK_METHODS),
    (b::SEMAPHORE, "u", SEMAPHORE_METHODS),
    (b::BOUNDED_SEMAPHORE, "u", SEMAPHORE_METHODS),
    (b::CONDITION, "c", &[("acquire", "wbt"), ("release", "w"), ("wait", "wt"), ("notify", "wu"), ("notify_all", "w")]),
    (b::EVENT, "", &[("is_set", ""), ("set", ""), ("clear", ""), ("wait", "t")]),
    (
        b::BARRIER,
        "ut",
        &[("wait", "t"), ("abort", ""), ("reset", ""), ("parties", ""), ("n_waiting", ""), ("broken", "")],
    ),
];

/// Exposed methods and their signatures.
type Methods = &'static [(&'static str, &'static str)];

const QUEUE_METHODS: Methods = &[
    ("put", "Ibt"),
    ("get", "bt"),
    ("put_many", "V"),
    ("get_many", "ubt"),
    ("qsize", ""),
    ("empty", ""),
    ("full", ""),
    ("maxsize", ""),
    ("shutdown", "b"),
    ("task_done", ""),
    ("join", ""),
];
const LOCK_METHODS: Methods = &[("acquire", "wbt"), ("release", "w"), ("locked", "w"), ("owned", "w")];
const SEMAPHORE_METHODS: Methods = &[("acquire", "bt"), ("release", "u"), ("value", "")];

/// Adversarial signed numbers (indexes, slice bounds and steps).
const I64S: &[i64] = &[
    0,
    1,
    -1,
    2,
    -2,
    3,
    -3,
    i64::MIN,
    i64::MAX,
    i64::MIN + 1,
    i64::MAX - 1,
    1 << 24,
    -(1 << 24),
    1 << 40,
    -(1 << 40),
    1 << 62,
    -(1 << 62),
    1 << 32,
];

/// Adversarial unsigned numbers (counts, sizes, versions); 1 first, so that an all-zero
/// payload makes a barrier of one party and a semaphore with one permit.
const U64S: &[u64] =
    &[1, 0, 2, 3, 4, 1 << 24, 1 << 40, u64::MAX, u64::MAX - 1, i64::MAX as u64, 1 << 32, 1 << 63, 16, 1000];

/// Timeouts in seconds: none, the edges, and what no timeout may be.
const TIMEOUTS: &[Option<f64>] = &[
    None,
    Some(0.0),
    Some(-0.0),
    Some(0.001),
    Some(0.5),
    Some(1.0),
    Some(30.0),
    Some(1e9),
    Some(1e300),
    Some(f64::MAX),
    Some(f64::NAN),
    Some(f64::INFINITY),
    Some(f64::NEG_INFINITY),
    Some(-1.0),
    Some(5e-324),
    Some(1e-9),
];

/// Floats whose encodings make `Value` numbers.
const FLOATS: &[f64] = &[1.5, 0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN_POSITIVE];

/// Attribute names and object names.
const NAMES: &[&str] = &["a", "b", "", "é"];

/// How long operation 13 waits.
const SLEEPS: &[Duration] = &[
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_secs(1),
    Duration::from_secs(60),
    Duration::from_secs(1_000_000),
];

/// An operation's payload; reads zeros past its end.
struct Payload<'a>(&'a [u8]);

impl<'a> Payload<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&first, rest)) => {
                self.0 = rest;
                first
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    /// Eight bytes (fewer at the end, zero-filled), little-endian.
    fn raw_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        let taken = self.take(8);
        bytes[..taken.len()].copy_from_slice(taken);
        u64::from_le_bytes(bytes)
    }

    fn pick<T: Copy>(&mut self, table: &[T]) -> T {
        table[usize::from(self.byte()) % table.len()]
    }

    fn u64(&mut self) -> u64 {
        match self.byte() {
            s if s >= 0xE0 => self.raw_u64(),
            s => U64S[usize::from(s) % U64S.len()],
        }
    }

    fn i64(&mut self) -> i64 {
        match self.byte() {
            s if s >= 0xE0 => self.raw_u64() as i64,
            s => I64S[usize::from(s) % I64S.len()],
        }
    }

    /// Zero is `None`.
    fn opt_i64(&mut self) -> Option<i64> {
        match self.byte() {
            0 => None,
            s if s >= 0xE0 => Some(self.raw_u64() as i64),
            s => Some(I64S[usize::from(s - 1) % I64S.len()]),
        }
    }

    fn timeout(&mut self) -> Option<f64> {
        match self.byte() {
            s if s >= 0xF0 => Some(f64::from_bits(self.raw_u64())),
            s => TIMEOUTS[usize::from(s) % TIMEOUTS.len()],
        }
    }

    fn name(&mut self) -> String {
        match self.byte() {
            s if s >= 0xF0 => {
                let n = usize::from(s & 0x0F);
                String::from_utf8_lossy(self.take(n)).into_owned()
            }
            s => NAMES[usize::from(s) % NAMES.len()].to_owned(),
        }
    }

    /// A number's encoding, as `Value` holds one.
    fn number(&mut self) -> Vec<u8> {
        match self.byte() % 8 {
            0 => encoded(&self.u64()),
            1 => encoded(&self.i64()),
            2 => encoded(&self.pick(FLOATS)),
            3 => encoded(&(self.pick(FLOATS) as f32)),
            4 => vec![self.byte()],
            5 => encoded(&self.pick(&[u128::MAX, 0, 1 << 100])),
            6 => encoded(&self.pick(&[i128::MIN, -1, 1 << 100])),
            _ => {
                let n = usize::from(self.byte() % 20);
                self.take(n).to_vec()
            }
        }
    }
}

fn encoded<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("postcard encodes plain values")
}

fn put<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    *out = postcard::to_extend(value, std::mem::take(out)).expect("postcard encodes plain values");
}

/// What the reader shares with the driver.
#[derive(Default)]
struct Inbox {
    replies: Vec<(RequestId, Answer)>,
    /// Requests the driver waits on, and their answers once in.
    awaited: HashSet<RequestId>,
    answers: HashMap<RequestId, Answer>,
    /// The server closed the connection.
    closed: bool,
}

impl Inbox {
    fn record(&mut self, id: RequestId, answer: Answer) {
        let final_answer = matches!(answer, Answer::Object(..) | Answer::Error(..) | Answer::Pong);
        if final_answer && self.awaited.remove(&id) {
            self.answers.insert(id, answer.clone());
        }
        self.replies.push((id, answer));
    }
}

/// Reads and checks replies until the server closes the connection.
async fn read_replies(client: &Stream, inbox: &RefCell<Inbox>, notify: &Notify, limit: usize) {
    let mut decoder = FrameDecoder::new(limit);
    loop {
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => panic!("the server sent a bad frame: {e}"),
            };
            let (id, response) = Response::decode(frame)
                .unwrap_or_else(|e| panic!("the server sent a reply that does not decode ({e}): {frame:02x?}"));
            inbox.borrow_mut().record(id, Answer::of(&response));
        }
        notify.notify_one();
        match client.read_some(decoder.buffer_mut()).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    inbox.borrow_mut().closed = true;
    notify.notify_one();
}

/// The client: plays an input's operations.
struct Driver<'a> {
    client: &'a Stream,
    inbox: &'a RefCell<Inbox>,
    notify: &'a Notify,
    max_frame: usize,
    allow_shutdown: bool,
    /// Frames not yet written.
    pending: Vec<u8>,
    next_id: RequestId,
    last_id: RequestId,
    /// The last few request ids, for `Cancel` and `Ack`.
    recent: Vec<RequestId>,
    /// The objects created, with their type (index into [`TYPES`]).
    created: Vec<(ObjectId, usize)>,
    sent: usize,
    /// A write failed: the server is gone.
    broken: bool,
    may_close_early: bool,
    raw: bool,
    pong: bool,
}

impl Driver<'_> {
    fn fresh_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The id for a request sent with opcode `op`.
    fn id_for(&mut self, op: u8) -> RequestId {
        match op >> 4 {
            0xF => NO_RESPONSE,
            0xE => self.last_id,
            _ => self.fresh_id(),
        }
    }

    fn send(&mut self, id: RequestId, request: &Request<'_>) {
        let mut payload = Vec::new();
        request.encode(id, &mut payload);
        self.send_payload(&payload);
        if id != NO_RESPONSE {
            self.last_id = id;
            if self.recent.len() == 4 {
                self.recent.remove(0);
            }
            self.recent.push(id);
        }
    }

    fn send_payload(&mut self, payload: &[u8]) {
        if payload.len() > self.max_frame {
            // The server ends a connection that sends a frame over its limit.
            self.may_close_early = true;
        }
        encode_frame(payload, &mut self.pending, usize::MAX).expect("a frame under 4 GiB");
        self.sent += 1;
    }

    async fn flush(&mut self) {
        if !self.pending.is_empty() && !self.broken {
            self.broken = self.client.write_all(&self.pending).await.is_err();
        }
        self.pending.clear();
    }

    /// Sends what is pending and waits for the final answer to `id` (an object or an error,
    /// or a pong); `None` if the server closed first.
    async fn answer(&mut self, id: RequestId) -> Option<Answer> {
        self.inbox.borrow_mut().awaited.insert(id);
        self.flush().await;
        loop {
            {
                let mut inbox = self.inbox.borrow_mut();
                if let Some(answer) = inbox.answers.remove(&id) {
                    return Some(answer);
                }
                if inbox.closed || self.broken {
                    return None;
                }
            }
            self.notify.notified().await;
        }
    }

    /// An object to address: one created so far, or (≥ 0xF0) an id this connection may not
    /// hold. With its type, when known.
    fn target(&mut self, p: &mut Payload<'_>) -> (ObjectId, Option<usize>) {
        match p.byte() {
            s if s < 0xF0 && !self.created.is_empty() => {
                let (id, k) = self.created[usize::from(s) % self.created.len()];
                (id, Some(k))
            }
            s => (ObjectId(u64::from(s & 0x0F)), None),
        }
    }

    /// References for an element stored in an object newer than every object in `below`:
    /// only to older objects (no cycle), or to ids that never exist.
    fn refs(&mut self, p: &mut Payload<'_>, n: usize, below: ObjectId) -> Vec<ObjectId> {
        let older: Vec<ObjectId> = self.created.iter().map(|(id, _)| *id).filter(|id| *id < below).collect();
        (0..n)
            .filter_map(|_| match p.byte() {
                s if s >= 0xF0 => Some(ObjectId(if s & 1 == 0 { 0 } else { u64::MAX })),
                s => older.get(usize::from(s) % older.len().max(1)).copied(),
            })
            .collect()
    }

    fn item(&mut self, p: &mut Payload<'_>, below: ObjectId) -> Item {
        let s = p.byte();
        let bytes = match s & 0x0F {
            0 => Vec::new(),
            // A few small elements, so that keys and members collide.
            n @ 1..=5 => vec![n],
            6..=9 => p.number(),
            10 | 11 => {
                let n = usize::from(p.byte() % 32);
                p.take(n).to_vec()
            }
            // A large element, stored shared with the frame it came in.
            12 => vec![0xAB; OWNED_BODY_MIN + usize::from(p.byte())],
            n => vec![n; 3],
        };
        let refs = match s >> 4 {
            0xC | 0xD => self.refs(p, 1, below),
            0xE => self.refs(p, 2, below),
            0xF => self.refs(p, 3, below),
            _ => Vec::new(),
        };
        Item { bytes, refs }
    }

    fn items(&mut self, p: &mut Payload<'_>, below: ObjectId) -> Vec<Item> {
        let n = match p.byte() {
            s if s >= 0xF8 => 40,
            s => usize::from(s % 5),
        };
        (0..n).map(|_| self.item(p, below)).collect()
    }

    /// Encodes arguments of signature `sig` (see [`TYPES`]) for an object newer than
    /// `below`.
    fn args(&mut self, sig: &str, p: &mut Payload<'_>, below: ObjectId) -> Vec<u8> {
        let mut out = Vec::new();
        for code in sig.bytes() {
            match code {
                b'i' => put(&mut out, &p.i64()),
                b'o' => put(&mut out, &p.opt_i64()),
                b'u' => put(&mut out, &p.u64()),
                b'w' => {
                    let owner = match p.byte() {
                        s if s >= 0xF0 => p.raw_u64(),
                        s => u64::from(s % 3),
                    };
                    put(&mut out, &owner);
                }
                b'b' => put(&mut out, &(p.byte() & 1 == 1)),
                b't' => put(&mut out, &p.timeout()),
                b'I' => put(&mut out, &self.item(p, below)),
                b'V' => put(&mut out, &self.items(p, below)),
                b'P' => {
                    let n = usize::from(p.byte() % 4);
                    let pairs: Vec<(Item, Item)> = (0..n).map(|_| (self.item(p, below), self.item(p, below))).collect();
                    put(&mut out, &pairs);
                }
                b'S' => put(&mut out, &p.name()),
                b'N' => {
                    let n = usize::from(p.byte() % 4);
                    let attrs: Vec<(String, Item)> = (0..n).map(|_| (p.name(), self.item(p, below))).collect();
                    put(&mut out, &attrs);
                }
                // A variant index; 12 and up are no `NumKind`.
                b'K' => put(&mut out, &u32::from(p.byte() % 13)),
                b'B' => put(&mut out, &p.number()),
                b'c' => {
                    let lock = match p.byte() % 3 {
                        0 => None,
                        1 => Some(Item { bytes: Vec::new(), refs: self.refs(p, 1, below) }),
                        _ => Some(self.item(p, below)),
                    };
                    put(&mut out, &lock);
                }
                other => unreachable!("signature letter {:?}", char::from(other)),
            }
        }
        out
    }

    /// Sends a `Create`; when answered, remembers the object.
    async fn create(&mut self, id: RequestId, k: usize, args: &[u8]) {
        self.send(id, &Request::Create { type_id: TYPES[k].0, args });
        if id != NO_RESPONSE
            && let Some(Answer::Object(object, _)) = self.answer(id).await
        {
            self.created.push((object, k));
        }
    }

    async fn play(&mut self, mut program: &[u8]) {
        while let Some((&op, rest)) = program.split_first() {
            let (len, rest) = rest.split_first().map_or((0, rest), |(&len, rest)| (usize::from(len), rest));
            let (payload, rest) = rest.split_at(len.min(rest.len()));
            program = rest;
            if self.sent >= MAX_REQUESTS || self.broken || self.inbox.borrow().closed {
                break;
            }
            self.op(op, &mut Payload(payload)).await;
            if self.pending.len() >= 64 * 1024 {
                self.flush().await;
            }
        }
        // Everything before this ping has been handled once its pong is in.
        let id = self.fresh_id();
        self.send(id, &Request::Ping);
        self.pong = self.answer(id).await.is_some();
    }

    async fn op(&mut self, op: u8, p: &mut Payload<'_>) {
        match op & 0x0F {
            0 => {
                let k = usize::from(p.byte()) % TYPES.len();
                let args = self.args(TYPES[k].1, p, ObjectId(u64::MAX));
                let id = if op >> 4 == 0xF { NO_RESPONSE } else { self.fresh_id() };
                self.create(id, k, &args).await;
            }
            1 => {
                self.raw = true;
                let k = usize::from(p.byte());
                let id = if op >> 4 == 0xF { NO_RESPONSE } else { self.fresh_id() };
                let args = p.rest();
                if k < TYPES.len() {
                    self.create(id, k, args).await;
                } else {
                    self.send(id, &Request::Create { type_id: "no such type", args });
                }
            }
            2..=4 => {
                let (object, k) = self.target(p);
                let s = p.byte();
                let (name, sig) = match k {
                    Some(k) => TYPES[k].2[usize::from(s & 0x7F) % TYPES[k].2.len()],
                    None => ("len", ""),
                };
                let args = self.args(sig, p, object);
                let method = if s >= 0x80 { MethodRef::Id(method_id(name)) } else { MethodRef::Name(name) };
                let id = self.id_for(op);
                self.send(id, &Request::Call { object, method, args: &args });
            }
            5 => {
                self.raw = true;
                let (object, k) = self.target(p);
                let s = p.byte();
                let name;
                let method = match (k, s) {
                    (Some(k), s) if s < 0xF0 => MethodRef::Name(TYPES[k].2[usize::from(s) % TYPES[k].2.len()].0),
                    (_, s) if s < 0xF8 => MethodRef::Id(p.raw_u64() as u32),
                    (_, s) => {
                        name = String::from_utf8_lossy(p.take(usize::from(s & 7))).into_owned();
                        MethodRef::Name(&name)
                    }
                };
                let id = self.id_for(op);
                self.send(id, &Request::Call { object, method, args: p.rest() });
            }
            6 => {
                let (object, _) = self.target(p);
                let id = self.id_for(op);
                self.send(id, &Request::ValueCopy { object });
            }
            n @ (7 | 8) => {
                let back = usize::from(p.byte() % 4);
                let target = self.recent.iter().rev().nth(back).copied().unwrap_or(FIRST_ID);
                let id = self.id_for(op);
                let request = if n == 7 { Request::Cancel { target } } else { Request::Ack { target } };
                self.send(id, &request);
            }
            n @ (9 | 10) => {
                let (object, _) = self.target(p);
                let id = self.id_for(op);
                self.send(id, &if n == 9 { Request::Incref { object } } else { Request::Decref { object } });
            }
            11 => {
                let id = self.id_for(op);
                self.send(id, &Request::Ping);
            }
            12 => {
                let id = self.fresh_id();
                self.send(id, &Request::Ping);
                self.answer(id).await;
            }
            13 => {
                let wait = p.pick(SLEEPS);
                self.flush().await;
                tokio::time::sleep(wait).await;
            }
            14 => {
                self.raw = true;
                // Its id may be missing or malformed: the server then ends the connection.
                self.may_close_early = true;
                self.send_payload(p.rest());
            }
            _ => {
                let id = self.id_for(op);
                match p.byte() % 6 {
                    0 => {
                        let k = usize::from(p.byte());
                        let type_id = TYPES.get(k).map_or("no such type", |t| t.0);
                        self.send(id, &Request::Describe { type_id });
                    }
                    1 => self.send(id, &Request::Stats),
                    2 => {
                        let name = p.name();
                        self.send(id, &Request::GetNamed { name: &name });
                    }
                    3 => {
                        let name = p.name();
                        let (object, _) = self.target(p);
                        self.send(id, &Request::BindNamed { name: &name, object });
                    }
                    4 => {
                        if self.allow_shutdown {
                            self.may_close_early = true;
                        }
                        self.send(id, &Request::Shutdown);
                    }
                    _ => {
                        let name = p.name();
                        self.send(id, &Request::Describe { type_id: &name });
                    }
                }
            }
        }
    }
}

/// Plays `data` against a fresh server state: the client and the connection run together
/// on this thread's runtime, and the outcome is taken once both have finished.
pub(crate) fn play(data: &[u8]) -> Outcome {
    block_on(session(data))
}

async fn session(data: &[u8]) -> Outcome {
    let (config_byte, program) = data.split_first().map_or((0, &[][..]), |(&c, rest)| (c, rest));
    let mut config = Config::default();
    match config_byte & 3 {
        2 => config.max_frame = 1024,
        3 => config.max_frame = 16 * 1024,
        _ => {}
    }
    config.allow_remote_shutdown = config_byte & 4 != 0;
    let max_frame = config.max_frame;
    let allow_shutdown = config.allow_remote_shutdown;
    let shared = Arc::new(Shared::for_tests(config, AuthKey::new(*b"fuzzing").expect("a key")));

    let (server_end, client_end) = UnixStream::pair().expect("a socket pair");
    server_end.set_nonblocking(true).expect("non-blocking");
    client_end.set_nonblocking(true).expect("non-blocking");
    // For closing the client's sending side while it goes on reading.
    let closer = client_end.try_clone().expect("a second descriptor");
    let client = Stream::new(client_end).expect("registered with the runtime");
    // What `serve_authenticated` does once the handshake is done.
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    let connection = Connection::new(
        Stream::new(server_end).expect("registered with the runtime"),
        Arc::clone(&shared),
        1,
        "fuzz".into(),
    );
    let decoder = FrameDecoder::new(max_frame);

    let inbox = RefCell::new(Inbox::default());
    let notify = Notify::new();
    let mut driver = Driver {
        client: &client,
        inbox: &inbox,
        notify: &notify,
        max_frame,
        allow_shutdown,
        pending: Vec::new(),
        next_id: FIRST_ID,
        last_id: FIRST_ID,
        recent: Vec::new(),
        created: Vec::new(),
        sent: 0,
        broken: false,
        may_close_early: false,
        raw: false,
        pong: false,
    };
    tokio::join!(
        connection.serve(decoder),
        async {
            driver.play(program).await;
            // Parked calls are dropped by the close: that is intended (it exercises their
            // cancellation), and the checks then find what they left.
            let _ = closer.shutdown(Shutdown::Write);
        },
        read_replies(&client, &inbox, &notify, max_frame),
    );
    let (pong, may_close_early, raw) = (driver.pong, driver.may_close_early, driver.raw);
    drop(driver);
    Outcome { replies: inbox.into_inner().replies, pong, may_close_early, raw, stats: shared.stats() }
}

/// This thread's runtime, and the paused clock's reading when it was made.
struct Runtime {
    runtime: tokio::runtime::Runtime,
    started: tokio::time::Instant,
}

thread_local! {
    /// One runtime per thread, made on first use: building one per input would cost more
    /// than most inputs.
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        let rt = slot.get_or_insert_with(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("a tokio runtime");
            let started = runtime.block_on(async { tokio::time::Instant::now() });
            Runtime { runtime, started }
        });
        let started = rt.started;
        let (output, elapsed) = rt.runtime.block_on(async move {
            let output = future.await;
            (output, started.elapsed())
        });
        if elapsed > CLOCK_BUDGET {
            *slot = None;
        }
        output
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Builds inputs for the tests and the seeds.
    #[derive(Default)]
    struct Program(Vec<u8>);

    impl Program {
        fn new(config: u8) -> Program {
            Program(vec![config])
        }

        fn op(mut self, op: u8, payload: &[u8]) -> Program {
            self.0.push(op);
            self.0.push(u8::try_from(payload.len()).unwrap());
            self.0.extend_from_slice(payload);
            self
        }

        fn type_index(type_id: &str) -> u8 {
            u8::try_from(TYPES.iter().position(|t| t.0 == type_id).unwrap()).unwrap()
        }

        /// Creates a `type_id` with constructor selectors `args`.
        fn create(self, type_id: &str, args: &[u8]) -> Program {
            let payload = [&[Program::type_index(type_id)][..], args].concat();
            self.op(0, &payload)
        }

        /// Calls `method` of the `nth` object created, with selectors `args`.
        fn call(self, nth: u8, type_id: &str, method: &str, args: &[u8]) -> Program {
            let methods = TYPES[usize::from(Program::type_index(type_id))].2;
            let m = u8::try_from(methods.iter().position(|(name, _)| *name == method).unwrap()).unwrap();
            self.op(2, &[&[nth, m][..], args].concat())
        }
    }

    fn shared() -> Shared {
        Shared::for_tests(Config::default(), AuthKey::new(*b"test").unwrap())
    }

    /// The harness's method table is the server's: a method added to a built-in must be
    /// added here (with its signature) for the fuzzer to call it with arguments that decode.
    #[test]
    fn the_signatures_cover_every_exposed_method() {
        let shared = shared();
        assert_eq!(TYPES.len(), 15);
        for (type_id, _, methods) in TYPES {
            let exposed = shared.registry.describe(type_id).unwrap().methods;
            let ours: Vec<&str> = methods.iter().map(|(name, _)| *name).collect();
            assert_eq!(exposed, ours, "the exposed methods of `{type_id}`");
        }
    }

    /// Every method, called with the arguments an all-zero payload makes, decodes them:
    /// the signatures are the server's.
    #[test]
    fn every_method_decodes_the_arguments_the_harness_makes() {
        for (type_id, _, methods) in TYPES {
            for (method, _) in *methods {
                let input = Program::new(0).create(type_id, &[]).call(0, type_id, method, &[]).0;
                let outcome = play(&input);
                check(&outcome);
                assert!(outcome.pong);
                let created = outcome.replies.iter().find(|(id, _)| *id == FIRST_ID).unwrap();
                assert!(matches!(&created.1, Answer::Object(_, t) if t == type_id), "{type_id}: {created:?}");
                // A call that parks (an event's wait) is not answered before the close.
                if let Some((_, Answer::Error(kind, message))) =
                    outcome.replies.iter().find(|(id, _)| *id == FIRST_ID + 1)
                {
                    // An empty element is no number: `fetch_add` says so, as a decode error.
                    let not_a_number = *type_id == b::VALUE && method.starts_with("fetch_");
                    assert!(
                        !matches!(kind, RemoteErrorKind::Decode | RemoteErrorKind::NotExposed) || not_a_number,
                        "{type_id}.{method}: {kind:?}: {message}"
                    );
                }
            }
        }
    }

    /// A connection that created one of everything, parked calls and took locks leaves
    /// nothing behind.
    #[test]
    fn a_closed_connection_leaves_nothing() {
        let mut program = Program::new(0);
        for (type_id, _, _) in TYPES {
            program = program.create(type_id, &[]);
        }
        // A blocking get on the empty queue (block: true, no timeout), a wait on the event.
        let program = program.call(6, b::QUEUE, "get", &[1, 0]).call(13, b::EVENT, "wait", &[0]);
        let outcome = play(&program.0);
        check(&outcome);
        let objects = outcome.replies.iter().filter(|(_, a)| matches!(a, Answer::Object(..))).count();
        assert_eq!(objects, TYPES.len());
        assert_eq!(outcome.stats.objects, 0);
    }

    /// The hand-made seeds in `tests/fuzz_regressions/live_requests/`: one of each type,
    /// and a few methods of each, with parked calls, timeouts, cancels, references and the
    /// ways a connection ends.
    fn seeds() -> Vec<(&'static str, Program)> {
        let mut every = Program::new(0);
        for (n, (type_id, _, _)) in TYPES.iter().enumerate() {
            every = every.create(type_id, &[]).op(6, &[u8::try_from(n).unwrap()]);
        }
        let dict = Program::new(0)
            .create(b::DICT, &[2, 0x01, 0x02, 0x03, 0x04])
            .call(0, b::DICT, "insert", &[0x05, 0x01])
            .call(0, b::DICT, "get", &[0x01])
            .call(0, b::DICT, "setdefault", &[0x02, 0x03])
            .call(0, b::DICT, "update", &[1, 0x06, 0, 0x01])
            .call(0, b::DICT, "merged", &[1, 0x01, 0x02])
            .call(0, b::DICT, "items", &[])
            .call(0, b::DICT, "pop", &[0x01])
            .call(0, b::DICT, "pop_or", &[0x01, 0x02])
            .call(0, b::DICT, "popitem", &[])
            .call(0, b::DICT, "keys", &[])
            .op(6, &[0])
            .op(10, &[0])
            .op(10, &[0]);
        let sequences = Program::new(0)
            .create(b::LIST, &[3, 0x01, 0x02, 0x03])
            .call(0, b::LIST, "append", &[0x04])
            .call(0, b::LIST, "slice", &[0, 0, 3])
            .call(0, b::LIST, "set_slice", &[2, 0, 2, 0x05, 0x05])
            .call(0, b::LIST, "delete_slice", &[0, 0, 4])
            .call(0, b::LIST, "index", &[0x05, 0, 0])
            .call(0, b::LIST, "insert", &[3, 0x03])
            .call(0, b::LIST, "repeat", &[2])
            .call(0, b::LIST, "versioned", &[])
            .call(0, b::LIST, "replace_if", &[1, 1, 0x01])
            .call(0, b::LIST, "pop", &[0])
            .create(b::ARRAY, &[3, 0x01, 0x02, 0x03])
            .call(1, b::ARRAY, "slice", &[0, 0, 3])
            .call(1, b::ARRAY, "set_slice", &[0, 0, 4, 2, 0x04, 0x05])
            .call(1, b::ARRAY, "get", &[2])
            .call(1, b::ARRAY, "snapshot", &[])
            .create(b::SET, &[2, 0x01, 0x02])
            .call(2, b::SET, "symmetric_difference_update", &[2, 0x02, 0x03])
            .call(2, b::SET, "issubset", &[1, 0x01])
            .create(b::NAMESPACE, &[1, 0, 0x01])
            .call(3, b::NAMESPACE, "set", &[1, 0x02])
            .call(3, b::NAMESPACE, "items", &[])
            .create(b::VALUE, &[0x06, 1, 0])
            .call(4, b::VALUE, "fetch_add", &[3, 1, 2])
            .call(4, b::VALUE, "compare_exchange", &[0x01, 0x02]);
        let queues = Program::new(0)
            .create(b::QUEUE, &[1])
            .call(0, b::QUEUE, "put", &[0x01, 0, 0])
            .call(0, b::QUEUE, "put_many", &[3, 0x02, 0x03, 0x04])
            .call(0, b::QUEUE, "get", &[0, 0])
            .call(0, b::QUEUE, "get_many", &[3, 0, 0])
            .call(0, b::QUEUE, "get", &[0, 0])
            .call(0, b::QUEUE, "get", &[1, 0])
            .op(7, &[0])
            .call(0, b::QUEUE, "get", &[1, 5])
            .op(13, &[3])
            .call(0, b::QUEUE, "put", &[0x05, 0, 0])
            .call(0, b::QUEUE, "get", &[1, 0])
            .op(8, &[0])
            .op(12, &[])
            .create(b::JOINABLE_QUEUE, &[0])
            .call(1, b::JOINABLE_QUEUE, "put", &[0x01, 0, 0])
            .call(1, b::JOINABLE_QUEUE, "put", &[0x02, 1, 4])
            .call(1, b::JOINABLE_QUEUE, "get", &[0, 0])
            .call(1, b::JOINABLE_QUEUE, "task_done", &[])
            .call(1, b::JOINABLE_QUEUE, "join", &[])
            .op(12, &[])
            .call(1, b::JOINABLE_QUEUE, "get", &[0, 0])
            .call(1, b::JOINABLE_QUEUE, "task_done", &[])
            .call(1, b::JOINABLE_QUEUE, "shutdown", &[1])
            .call(1, b::JOINABLE_QUEUE, "get", &[1, 0]);
        let locks = Program::new(0)
            .create(b::LOCK, &[])
            .create(b::RLOCK, &[])
            .create(b::SEMAPHORE, &[2])
            .create(b::BOUNDED_SEMAPHORE, &[0])
            .create(b::CONDITION, &[0])
            .create(b::CONDITION, &[1, 0])
            .call(0, b::LOCK, "acquire", &[0, 1, 0])
            .op(8, &[0])
            .call(0, b::LOCK, "acquire", &[1, 1, 5])
            .op(13, &[3])
            .call(0, b::LOCK, "acquire", &[2, 1, 0])
            .call(0, b::LOCK, "release", &[0])
            .call(0, b::LOCK, "owned", &[2])
            .call(1, b::RLOCK, "acquire", &[0, 1, 0])
            .call(1, b::RLOCK, "acquire", &[0, 1, 0])
            .call(1, b::RLOCK, "release", &[0])
            .call(1, b::RLOCK, "release", &[0])
            .call(1, b::RLOCK, "release", &[0])
            .call(2, b::SEMAPHORE, "acquire", &[1, 0])
            .call(2, b::SEMAPHORE, "acquire", &[1, 0])
            .call(2, b::SEMAPHORE, "acquire", &[1, 0])
            .call(2, b::SEMAPHORE, "release", &[0])
            .call(2, b::SEMAPHORE, "value", &[])
            .call(3, b::BOUNDED_SEMAPHORE, "release", &[0])
            .call(4, b::CONDITION, "acquire", &[0, 1, 0])
            .call(4, b::CONDITION, "wait", &[0, 4])
            .call(4, b::CONDITION, "acquire", &[1, 1, 0])
            .call(4, b::CONDITION, "notify", &[1, 0])
            .call(4, b::CONDITION, "release", &[1])
            .op(12, &[])
            .call(5, b::CONDITION, "acquire", &[0, 0, 0]);
        let waits = Program::new(0)
            .create(b::EVENT, &[])
            .create(b::BARRIER, &[2, 0])
            .create(b::BARRIER, &[0, 5])
            .call(0, b::EVENT, "wait", &[0])
            .call(0, b::EVENT, "set", &[])
            .op(12, &[])
            .call(0, b::EVENT, "clear", &[])
            .call(0, b::EVENT, "wait", &[1])
            .call(1, b::BARRIER, "wait", &[0])
            .call(1, b::BARRIER, "n_waiting", &[])
            .call(1, b::BARRIER, "wait", &[0])
            .call(1, b::BARRIER, "wait", &[5])
            .op(13, &[3])
            .call(1, b::BARRIER, "broken", &[])
            .call(1, b::BARRIER, "reset", &[])
            .call(1, b::BARRIER, "abort", &[])
            .call(2, b::BARRIER, "wait", &[0]);
        let references = Program::new(0)
            .create(b::LIST, &[0])
            .create(b::DICT, &[1, 0xC0, 0, 0x01])
            .create(b::VALUE, &[0xC0, 0])
            .call(1, b::DICT, "items", &[])
            .op(6, &[1])
            .call(2, b::VALUE, "swap", &[0x02])
            .call(1, b::DICT, "pop", &[0xC0, 0])
            .op(9, &[0])
            .op(10, &[0])
            .op(10, &[0])
            .op(10, &[0])
            .create(b::QUEUE, &[1])
            .call(3, b::QUEUE, "put", &[0xC0, 0, 0, 0])
            .op(0xF2, &[3, 1, 0, 0])
            .call(3, b::QUEUE, "get", &[0, 0])
            .op(7, &[0])
            .op(6, &[3]);
        let misc = Program::new(0)
            .op(15, &[0, 1])
            .op(15, &[0, 99])
            .op(15, &[1])
            .op(15, &[2, 0])
            .create(b::DICT, &[])
            .op(0xE2, &[0, 0x84])
            .op(0xF2, &[0, 4])
            .op(7, &[3])
            .op(8, &[2])
            .op(5, &[0, 0, 0xde, 0xad])
            .op(1, &[1, 0x03, 0x01, 0x01, 0x00])
            .op(1, &[99, 0])
            .op(14, &[7, 0])
            .op(15, &[4])
            .op(15, &[3, 0, 0])
            .op(15, &[2, 0]);
        // A request with no id to answer: the server ends the connection.
        let malformed = Program::new(0).create(b::DICT, &[]).op(12, &[]).op(14, &[0xff]);
        let shutdown = Program::new(4).create(b::QUEUE, &[1]).call(0, b::QUEUE, "get", &[1, 0]).op(15, &[4]);
        let small_frames = Program::new(2).create(b::LIST, &[]).call(0, b::LIST, "append", &[0x0C, 0]);
        let mut items = vec![4];
        for n in 0..4 {
            items.extend_from_slice(&[0x0A, 31]);
            items.extend(std::iter::repeat_n(n, 31));
        }
        let large_reply = Program::new(3)
            .create(b::LIST, &items)
            .call(0, b::LIST, "repeat", &[13])
            .call(0, b::LIST, "snapshot", &[])
            .call(0, b::LIST, "len", &[]);
        vec![
            ("seed-every-type", every),
            ("seed-dict", dict),
            ("seed-sequences", sequences),
            ("seed-queues", queues),
            ("seed-locks", locks),
            ("seed-waits", waits),
            ("seed-references", references),
            ("seed-misc", misc),
            ("seed-malformed", malformed),
            ("seed-shutdown", shutdown),
            ("seed-small-frames", small_frames),
            ("seed-large-reply", large_reply),
        ]
    }

    /// The seeds are what [`seeds`] makes, and do what they were made for. With
    /// `WRITE_SEEDS=1` in the environment, (re)writes them first.
    #[test]
    fn the_seeds_are_current_and_do_what_they_say() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/live_requests");
        for (name, program) in seeds() {
            if std::env::var_os("WRITE_SEEDS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(name), &program.0).unwrap();
            }
            let kept = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(kept, program.0, "{name} is stale: run this test with WRITE_SEEDS=1");
            let outcome = play(&program.0);
            check(&outcome);
            if std::env::var_os("SHOW_SEEDS").is_some() {
                println!("== {name}: {:?}", outcome.stats);
                for reply in &outcome.replies {
                    println!("{reply:?}");
                }
            }
            let count = |f: fn(&Answer) -> bool| outcome.replies.iter().filter(|(_, a)| f(a)).count();
            let errors = count(|a| matches!(a, Answer::Error(..)));
            let objects = count(|a| matches!(a, Answer::Object(..)));
            match name {
                "seed-every-type" => assert_eq!((objects, errors), (TYPES.len(), 0)),
                "seed-small-frames" | "seed-malformed" => assert!(!outcome.pong, "{name}"),
                "seed-shutdown" => {
                    // The parked call's answer, then the notice to no request (id 0)
                    // that tells the client the server shut down.
                    let shut = |id: &u64| {
                        outcome
                            .replies
                            .iter()
                            .filter(|(i, a)| i == id && matches!(a, Answer::Error(RemoteErrorKind::ShuttingDown, _)))
                            .count()
                    };
                    let parked = outcome
                        .replies
                        .iter()
                        .filter(|(i, a)| *i != 0 && matches!(a, Answer::Error(RemoteErrorKind::ShuttingDown, _)))
                        .count();
                    assert_eq!((parked, shut(&0)), (1, 1), "{name}");
                }
                "seed-large-reply" => {
                    assert!(count(|a| matches!(a, Answer::Error(RemoteErrorKind::LimitExceeded, _))) == 1)
                }
                _ => assert!(outcome.pong, "{name}"),
            }
        }
    }

    /// The seeds of the fuzz target and the inputs it found, once fixed, replayed for ever.
    #[test]
    fn replay_kept_inputs() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/live_requests");
        let mut paths: Vec<PathBuf> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        paths.sort();
        assert!(!paths.is_empty(), "no inputs in {}", dir.display());
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{} fails its checks", path.display());
        }
    }
}
