//! Property tests: every request and response encodes and decodes to itself, and no
//! byte string makes a decoder panic.
#![allow(clippy::unwrap_used)]

use manager_proto::frame::{self, FrameDecoder};
use manager_proto::handshake::{ClientHandshake, NONCE_LEN, ServerHandshake, VersionRange};
use manager_proto::{
    AuthKey, MethodRef, ObjectId, RemoteError, RemoteErrorKind, Request, Response, ServerId, ServerStats,
    TypeDescription,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum OwnedRequest {
    Ping,
    Create(String, String, Vec<u8>),
    CallId(u64, u32, Vec<u8>),
    CallName(u64, String, Vec<u8>),
    Cancel(u64),
    Incref(u64),
    Decref(u64),
    GetNamed(String),
    BindNamed(String, u64),
    Describe(String),
    ValueCopy(u64),
    Stats,
    Shutdown,
    Ack(u64),
    Lease(u64),
    Collect,
}

impl OwnedRequest {
    fn borrow(&self) -> Request<'_> {
        match self {
            OwnedRequest::Ping => Request::Ping,
            OwnedRequest::Create(t, f, a) => Request::Create { type_id: t, fingerprint: f, args: a },
            OwnedRequest::CallId(o, m, a) => Request::Call { object: ObjectId(*o), method: MethodRef::Id(*m), args: a },
            OwnedRequest::CallName(o, m, a) => {
                Request::Call { object: ObjectId(*o), method: MethodRef::Name(m), args: a }
            }
            OwnedRequest::Cancel(t) => Request::Cancel { target: *t },
            OwnedRequest::Incref(o) => Request::Incref { object: ObjectId(*o) },
            OwnedRequest::Decref(o) => Request::Decref { object: ObjectId(*o) },
            OwnedRequest::GetNamed(n) => Request::GetNamed { name: n },
            OwnedRequest::BindNamed(n, o) => Request::BindNamed { name: n, object: ObjectId(*o) },
            OwnedRequest::Describe(t) => Request::Describe { type_id: t },
            OwnedRequest::ValueCopy(o) => Request::ValueCopy { object: ObjectId(*o) },
            OwnedRequest::Stats => Request::Stats,
            OwnedRequest::Shutdown => Request::Shutdown,
            OwnedRequest::Ack(t) => Request::Ack { target: *t },
            OwnedRequest::Lease(o) => Request::Lease { object: ObjectId(*o) },
            OwnedRequest::Collect => Request::Collect,
        }
    }
}

fn request() -> impl Strategy<Value = OwnedRequest> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        Just(OwnedRequest::Ping),
        (".{0,16}", ".{0,24}", bytes()).prop_map(|(t, f, a)| OwnedRequest::Create(t, f, a)),
        (any::<u64>(), any::<u32>(), bytes()).prop_map(|(o, m, a)| OwnedRequest::CallId(o, m, a)),
        (any::<u64>(), ".{0,16}", bytes()).prop_map(|(o, m, a)| OwnedRequest::CallName(o, m, a)),
        any::<u64>().prop_map(OwnedRequest::Cancel),
        any::<u64>().prop_map(OwnedRequest::Incref),
        any::<u64>().prop_map(OwnedRequest::Decref),
        ".{0,16}".prop_map(OwnedRequest::GetNamed),
        (".{0,16}", any::<u64>()).prop_map(|(n, o)| OwnedRequest::BindNamed(n, o)),
        ".{0,16}".prop_map(OwnedRequest::Describe),
        any::<u64>().prop_map(OwnedRequest::ValueCopy),
        Just(OwnedRequest::Stats),
        Just(OwnedRequest::Shutdown),
        any::<u64>().prop_map(OwnedRequest::Ack),
        any::<u64>().prop_map(OwnedRequest::Lease),
        Just(OwnedRequest::Collect),
    ]
}

#[derive(Debug, Clone)]
enum OwnedResponse {
    Pong,
    Value(Vec<u8>),
    Object(u64, String, String),
    Done,
    Description(String, Vec<String>),
    Stats(u64, u64, Vec<(String, u64)>),
    Error(u32, String, Vec<u8>),
    Transfer(Vec<u8>),
    Grant(Vec<u8>),
}

impl OwnedResponse {
    fn borrow(&self) -> Response<'_> {
        match self {
            OwnedResponse::Pong => Response::Pong,
            OwnedResponse::Value(b) => Response::Value(b),
            OwnedResponse::Object(id, t, f) => Response::Object { id: ObjectId(*id), type_id: t, fingerprint: f },
            OwnedResponse::Done => Response::Done,
            OwnedResponse::Description(t, m) => {
                Response::Description(TypeDescription { type_id: t.clone(), methods: m.clone() })
            }
            OwnedResponse::Stats(o, r, by) => Response::Stats(ServerStats {
                objects: *o,
                requests: *r,
                objects_by_type: by.clone(),
                ..ServerStats::default()
            }),
            OwnedResponse::Error(k, m, d) => {
                Response::Error(RemoteError { kind: RemoteErrorKind::from(*k), message: m.clone(), detail: d.clone() })
            }
            OwnedResponse::Transfer(b) => Response::Transfer(b),
            OwnedResponse::Grant(b) => Response::Grant(b),
        }
    }
}

fn response() -> impl Strategy<Value = OwnedResponse> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        Just(OwnedResponse::Pong),
        bytes().prop_map(OwnedResponse::Value),
        (any::<u64>(), ".{0,16}", ".{0,24}").prop_map(|(i, t, f)| OwnedResponse::Object(i, t, f)),
        Just(OwnedResponse::Done),
        (".{0,8}", prop::collection::vec(".{0,8}", 0..4)).prop_map(|(t, m)| OwnedResponse::Description(t, m)),
        (any::<u64>(), any::<u64>(), prop::collection::vec((".{0,8}", any::<u64>()), 0..4))
            .prop_map(|(o, r, b)| OwnedResponse::Stats(o, r, b)),
        (any::<u32>(), ".{0,16}", bytes()).prop_map(|(k, m, d)| OwnedResponse::Error(k, m, d)),
        bytes().prop_map(OwnedResponse::Transfer),
        bytes().prop_map(OwnedResponse::Grant),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip(id in any::<u64>(), req in request()) {
        let mut bytes = Vec::new();
        req.borrow().encode(id, &mut bytes);
        prop_assert_eq!(Request::decode(&bytes).unwrap(), (id, req.borrow()));
    }

    #[test]
    fn responses_round_trip(id in any::<u64>(), resp in response()) {
        let mut bytes = Vec::new();
        resp.borrow().encode(id, &mut bytes);
        prop_assert_eq!(Response::decode(&bytes).unwrap(), (id, resp.borrow()));
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        let _ = Response::peek_id(&bytes);
        let mut dec = FrameDecoder::new(1024);
        dec.buffer_mut().extend_from_slice(&bytes);
        while let Ok(Some(_)) = dec.next_frame() {}
        let key = AuthKey::new(*b"k").unwrap();
        let mut server = ServerHandshake::new(&key, [1; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
        let _ = server.receive(&bytes);
        let _ = server.receive(&bytes);
        let (mut client, _) = ClientHandshake::new(&key, [2; NONCE_LEN], VersionRange::CURRENT);
        let _ = client.receive(&bytes);
        let _ = client.receive(&bytes);
    }

    #[test]
    fn frames_split_anywhere_decode_the_same(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 1..8),
        cuts in prop::collection::vec(1usize..40, 1..20),
    ) {
        let mut wire = Vec::new();
        for p in &payloads {
            frame::encode_frame(p, &mut wire, 1000).unwrap();
        }
        let mut dec = FrameDecoder::new(1000);
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            dec.buffer_mut().extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn error_kind_codes_round_trip(code in any::<u32>()) {
        let kind = RemoteErrorKind::from(code);
        prop_assert_eq!(kind.code(), code);
    }
}
