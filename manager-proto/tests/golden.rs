//! Golden byte vectors: the exact encoding of every message kind, checked in as
//! `tests/golden/messages.txt` (`name hex` per line).
//!
//! A failure here means the wire format changed. If that is deliberate (a new message
//! kind, a new protocol version), regenerate with `UPDATE_GOLDEN=1 cargo test -p
//! manager-proto --test golden` and say so in the commit: peers built before will no
//! longer understand the changed messages.
#![allow(clippy::unwrap_used)]

use manager_proto::frame;
use manager_proto::handshake::{self, ClientHandshake, NONCE_LEN, ServerHandshake, VersionRange};
use manager_proto::inspect::{ConnectionReport, HeldRef, Holder, ObjectReport, Query};
use manager_proto::{
    Address, AuthKey, MethodRef, ObjectId, RemoteError, RemoteErrorKind, Request, Response, ServerId, ServerStats,
    Token, TypeDescription,
};
use std::collections::BTreeMap;

fn requests() -> Vec<(&'static str, u64, Request<'static>)> {
    vec![
        ("request.ping", 1, Request::Ping),
        ("request.create", 2, Request::Create { type_id: "counter", fingerprint: "", args: &[5] }),
        (
            "request.create.fingerprint",
            2,
            Request::Create { type_id: "value", fingerprint: "Value<i32>", args: &[1, 2, 0] },
        ),
        (
            "request.call.by_id",
            3,
            Request::Call { object: ObjectId(7), method: MethodRef::Id(0xdead_beef), args: &[1, 2] },
        ),
        (
            "request.call.by_name",
            300,
            Request::Call { object: ObjectId(7), method: MethodRef::Name("incr"), args: &[1] },
        ),
        ("request.cancel", 0, Request::Cancel { target: 3 }),
        ("request.incref", 4, Request::Incref { object: ObjectId(128) }),
        ("request.decref", 0, Request::Decref { object: ObjectId(128) }),
        ("request.get_named", 5, Request::GetNamed { name: "hits" }),
        ("request.bind_named", 6, Request::BindNamed { name: "hits", object: ObjectId(9) }),
        ("request.describe", 7, Request::Describe { type_id: "dict" }),
        ("request.value_copy", 8, Request::ValueCopy { object: ObjectId(9) }),
        ("request.stats", 9, Request::Stats),
        ("request.shutdown", 10, Request::Shutdown),
        ("request.ack", 0, Request::Ack { target: 11 }),
        ("request.lease", 0, Request::Lease { object: ObjectId(128) }),
        ("request.collect", 12, Request::Collect),
        (
            "request.open",
            14,
            Request::Open { object: ObjectId(7), method: MethodRef::Id(0xdead_beef), credit: 262_144, args: &[3] },
        ),
        ("request.credit", 0, Request::Credit { target: 14, bytes: 131_072 }),
        ("request.inspect.objects", 15, Request::Inspect { query: Query::Objects { type_id: None } }),
        ("request.inspect.objects.typed", 15, Request::Inspect { query: Query::Objects { type_id: Some("queue") } }),
        ("request.inspect.object", 16, Request::Inspect { query: Query::Object { id: ObjectId(9) } }),
        ("request.inspect.connections", 17, Request::Inspect { query: Query::Connections }),
    ]
}

fn responses() -> Vec<(&'static str, u64, Response<'static>)> {
    vec![
        ("response.pong", 1, Response::Pong),
        ("response.value", 3, Response::Value(&[42])),
        ("response.object", 2, Response::Object { id: ObjectId(7), type_id: "counter", fingerprint: "" }),
        (
            "response.object.fingerprint",
            2,
            Response::Object { id: ObjectId(7), type_id: "counter", fingerprint: "new()\nfn get() -> u64" },
        ),
        ("response.done", 6, Response::Done),
        (
            "response.description",
            7,
            Response::Description(TypeDescription {
                type_id: "dict".into(),
                methods: vec!["get".into(), "insert".into()],
            }),
        ),
        (
            "response.stats",
            9,
            Response::Stats(ServerStats {
                objects: 3,
                named: 1,
                connections: 2,
                requests: 1000,
                parked_calls: 1,
                objects_by_type: vec![("dict".into(), 2), ("queue".into(), 1)],
                transfers_undone: 4,
                leases: 2,
                cycles_collected: 6,
                streams: 5,
            }),
        ),
        ("response.error", 3, Response::Error(RemoteError::new(RemoteErrorKind::NotExposed, "no"))),
        (
            "response.error.user",
            3,
            Response::Error(RemoteError {
                kind: RemoteErrorKind::User,
                message: "failed".into(),
                detail: vec![1, 2, 3],
            }),
        ),
        ("response.error.unknown_kind", 3, Response::Error(RemoteError::new(RemoteErrorKind::Other(999), "?"))),
        ("response.transfer", 12, Response::Transfer(&[1, 9])),
        ("response.grant", 13, Response::Grant(&[1])),
        ("response.items", 14, Response::Items { count: 3, items: &[1, 2, 3] }),
        ("response.end", 14, Response::End),
        (
            "response.error.changed_during_iteration",
            14,
            Response::Error(RemoteError::new(
                RemoteErrorKind::ChangedDuringIteration,
                "dictionary changed size during iteration",
            )),
        ),
    ]
}

/// The handshake messages, produced by the state machines with fixed inputs.
fn handshake_messages() -> Vec<(&'static str, Vec<u8>)> {
    let key = AuthKey::new(*b"golden-key").unwrap();
    let (mut client, hello) = ClientHandshake::new(&key, [0x11; NONCE_LEN], VersionRange::CURRENT);
    let mut server =
        ServerHandshake::new(&key, [0x22; NONCE_LEN], VersionRange::CURRENT, ServerId(0x0102_0304_0506_0708));
    let challenge = server.receive(&hello).unwrap().reply.unwrap();
    let proof = client.receive(&challenge).unwrap().reply.unwrap();
    let welcome = server.receive(&proof).unwrap().reply.unwrap();
    let mut newer = ServerHandshake::new(&key, [0x22; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
    let (_, newer_hello) = ClientHandshake::new(&key, [0x11; NONCE_LEN], VersionRange { min: 4, max: 5 });
    let refused = newer.receive(&newer_hello).unwrap_err().reply.unwrap();
    let mut wrong = ServerHandshake::new(&key, [0x22; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
    wrong.receive(&hello).unwrap();
    let rejected = wrong.receive(&[0u8; 32]).unwrap_err().reply.unwrap();
    vec![
        ("handshake.client_hello", hello),
        ("handshake.challenge", challenge),
        ("handshake.refused", refused),
        ("handshake.client_proof", proof),
        ("handshake.welcome", welcome),
        ("handshake.rejected", rejected),
        ("handshake.unavailable", handshake::unavailable_message("busy")),
    ]
}

fn all() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (name, id, req) in requests() {
        let mut bytes = Vec::new();
        req.encode(id, &mut bytes);
        out.insert(name.to_owned(), bytes);
    }
    for (name, id, resp) in responses() {
        let mut bytes = Vec::new();
        resp.encode(id, &mut bytes);
        out.insert(name.to_owned(), bytes);
    }
    for (name, bytes) in handshake_messages() {
        out.insert(name.to_owned(), bytes);
    }
    let mut framed = Vec::new();
    let start = frame::begin_frame(&mut framed);
    Request::Call { object: ObjectId(7), method: MethodRef::Id(1), args: &[] }.encode(5, &mut framed);
    frame::finish_frame(&mut framed, start, frame::DEFAULT_MAX_FRAME).unwrap();
    out.insert("frame.request".into(), framed);
    let mut framed = Vec::new();
    frame::encode_frame(
        &{
            let mut p = Vec::new();
            Response::Value(&[7]).encode(5, &mut p);
            p
        },
        &mut framed,
        frame::DEFAULT_MAX_FRAME,
    )
    .unwrap();
    out.insert("frame.response".into(), framed);
    let token = Token {
        address: "tcp://127.0.0.1:5000".parse::<Address>().unwrap(),
        server: ServerId(0xabc),
        object: ObjectId(3),
        type_id: "counter".into(),
    };
    out.insert("token".into(), postcard::to_allocvec(&token).unwrap());
    // The reports an `Inspect` is answered with (in a `Value`).
    out.insert("inspect.objects".into(), postcard::to_allocvec(&object_reports()).unwrap());
    out.insert("inspect.connections".into(), postcard::to_allocvec(&connection_reports()).unwrap());
    // A token minted on a TLS server carries its tls:// address (`Address::Tls`, the
    // enum's third variant: tcp and unix tokens encode as before).
    let tls_token = Token { address: "tls://db.example:5000".parse::<Address>().unwrap(), ..token };
    out.insert("token.tls".into(), postcard::to_allocvec(&tls_token).unwrap());
    out
}

fn object_reports() -> Vec<ObjectReport> {
    vec![ObjectReport {
        id: ObjectId(9),
        type_id: "dict".into(),
        refs: 3,
        holders: vec![Holder { connection: 2, refs: 2 }],
        names: vec!["config".into()],
        repr: "{'a': 1}".into(),
    }]
}

fn connection_reports() -> Vec<ConnectionReport> {
    vec![ConnectionReport {
        id: 2,
        peer: "127.0.0.1:5000".into(),
        age_ms: 1500,
        calls_in_flight: 1,
        parked_calls: 1,
        streams: 2,
        watches: 1,
        locks_held: vec![ObjectId(4)],
        refs_held: vec![HeldRef { object: ObjectId(9), refs: 2 }],
    }]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/messages.txt");

#[test]
fn every_message_encodes_exactly_as_checked_in() {
    let current = all();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text: String = current.iter().map(|(n, b)| format!("{n} {}\n", hex(b))).collect();
        std::fs::write(FILE, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(FILE).unwrap();
    let golden: BTreeMap<String, Vec<u8>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, hex) = l.split_once(' ').unwrap();
            (name.to_owned(), unhex(hex.trim()))
        })
        .collect();
    let names: Vec<&String> = current.keys().collect();
    assert_eq!(names, golden.keys().collect::<Vec<_>>(), "vectors added or missing");
    for (name, bytes) in &current {
        assert_eq!(hex(bytes), hex(&golden[name]), "{name} changed encoding");
    }
}

#[test]
fn the_golden_bytes_decode_back_to_the_same_messages() {
    let golden = all();
    for (name, id, req) in requests() {
        assert_eq!(Request::decode(&golden[name]).unwrap(), (id, req), "{name}");
    }
    for (name, id, resp) in responses() {
        assert_eq!(Response::decode(&golden[name]).unwrap(), (id, resp), "{name}");
    }
    let token: Token = postcard::from_bytes(&golden["token"]).unwrap();
    let objects: Vec<ObjectReport> = postcard::from_bytes(&golden["inspect.objects"]).unwrap();
    assert_eq!(objects, object_reports());
    let conns: Vec<ConnectionReport> = postcard::from_bytes(&golden["inspect.connections"]).unwrap();
    assert_eq!(conns, connection_reports());
    assert_eq!(token.type_id, "counter");
    let mut dec = frame::FrameDecoder::new(1024);
    dec.buffer_mut().extend_from_slice(&golden["frame.request"]);
    let (id, _) = Request::decode(dec.next_frame().unwrap().unwrap()).unwrap();
    assert_eq!(id, 5);
}

#[test]
fn a_few_vectors_read_by_hand() {
    let golden = all();
    // Ping, id 1: varint 1, kind varint 0.
    assert_eq!(golden["request.ping"], [1, 0]);
    // Call by id: id 3, kind 2, object 7, tag 0, u32 LE, raw args.
    assert_eq!(golden["request.call.by_id"], [3, 2, 7, 0, 0xef, 0xbe, 0xad, 0xde, 1, 2]);
    // Id 300 takes two varint bytes.
    assert_eq!(&golden["request.call.by_name"][..2], [0xac, 0x02]);
    // Frames: 4-byte big-endian length.
    assert_eq!(&golden["frame.request"][..4], [0, 0, 0, 8]);
    // The hello: magic, versions 3..=3, the client nonce.
    assert_eq!(&golden["handshake.client_hello"][..8], b"RMGR\x03\x00\x03\x00");
    // Open: id 14, kind 15, object 7, tag 0, u32 LE, credit varint (262,144), args.
    assert_eq!(golden["request.open"], [14, 15, 7, 0, 0xef, 0xbe, 0xad, 0xde, 0x80, 0x80, 0x10, 3]);
    // A batch: id 14, kind 9, count 3, the items' bytes.
    assert_eq!(golden["response.items"], [14, 9, 3, 1, 2, 3]);
}
