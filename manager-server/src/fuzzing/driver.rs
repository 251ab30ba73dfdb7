//! The client side of a session: sends an input's requests over the socket and collects
//! the replies.

use super::*;

/// What the reader shares with the driver.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) replies: Vec<(RequestId, Answer)>,
    /// Requests the driver waits on, and their answers once in.
    pub(super) awaited: HashSet<RequestId>,
    pub(super) answers: HashMap<RequestId, Answer>,
    /// The streams opened, for checking their replies.
    pub(super) streams: StreamLog,
    /// The server closed the connection.
    pub(super) closed: bool,
}

impl Inbox {
    pub(super) fn record(&mut self, id: RequestId, answer: Answer) {
        self.streams.check(id, &answer);
        let final_answer = matches!(answer, Answer::Object(..) | Answer::Error(..) | Answer::Pong);
        if final_answer && self.awaited.remove(&id) {
            self.answers.insert(id, answer.clone());
        }
        self.replies.push((id, answer));
    }
}

/// Reads and checks replies until the server closes the connection.
pub(super) async fn read_replies(client: &Stream, inbox: &RefCell<Inbox>, notify: &Notify, limit: usize) {
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

/// The fingerprints a `Create` may carry, by its opcode's high four bits: none, a
/// built-in's, a `#[shared]` interface, a broken one, a long one.
pub(super) const FINGERPRINTS: [&str; 5] = [
    "",
    "Queue<u64>",
    "new()\nfn get() -> u64",
    "new(\nfn \n\n",
    "Dict<alloc::string::String, alloc::vec::Vec<(u8, core::option::Option<alloc::string::String>)>>",
];

/// The fingerprint of a `Create` sent with opcode `op`.
fn fingerprint_for(op: u8) -> &'static str {
    FINGERPRINTS[usize::from(op >> 4) % FINGERPRINTS.len()]
}

/// The client: plays an input's operations.
pub(super) struct Driver<'a> {
    pub(super) client: &'a Stream,
    pub(super) inbox: &'a RefCell<Inbox>,
    pub(super) notify: &'a Notify,
    pub(super) max_frame: usize,
    pub(super) allow_shutdown: bool,
    /// Frames not yet written.
    pub(super) pending: Vec<u8>,
    pub(super) next_id: RequestId,
    pub(super) last_id: RequestId,
    /// The last few request ids, for `Cancel` and `Ack`.
    pub(super) recent: Vec<RequestId>,
    /// The ids of the streams opened, in order.
    pub(super) streams: Vec<RequestId>,
    /// The objects created, with their type (index into [`TYPES`]).
    pub(super) created: Vec<(ObjectId, usize)>,
    pub(super) sent: usize,
    /// A write failed: the server is gone.
    pub(super) broken: bool,
    pub(super) may_close_early: bool,
    pub(super) pong: bool,
}

impl Driver<'_> {
    pub(super) fn fresh_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The id for a request sent with opcode `op`.
    pub(super) fn id_for(&mut self, op: u8) -> RequestId {
        match op >> 4 {
            0xF => NO_RESPONSE,
            0xE => self.last_id,
            _ => self.fresh_id(),
        }
    }

    pub(super) fn send(&mut self, id: RequestId, request: &Request<'_>) {
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

    pub(super) fn send_payload(&mut self, payload: &[u8]) {
        if payload.len() > self.max_frame {
            // The server ends a connection that sends a frame over its limit.
            self.may_close_early = true;
        }
        encode_frame(payload, &mut self.pending, usize::MAX).expect("a frame under 4 GiB");
        self.sent += 1;
    }

    pub(super) async fn flush(&mut self) {
        if !self.pending.is_empty() && !self.broken {
            self.broken = self.client.write_all(&self.pending).await.is_err();
        }
        self.pending.clear();
    }

    /// Sends what is pending and waits for the final answer to `id` (an object or an error,
    /// or a pong); `None` if the server closed first.
    pub(super) async fn answer(&mut self, id: RequestId) -> Option<Answer> {
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
    pub(super) fn target(&mut self, p: &mut Payload<'_>) -> (ObjectId, Option<usize>) {
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
    pub(super) fn refs(&mut self, p: &mut Payload<'_>, n: usize, below: ObjectId) -> Vec<ObjectId> {
        let older: Vec<ObjectId> = self.created.iter().map(|(id, _)| *id).filter(|id| *id < below).collect();
        (0..n)
            .filter_map(|_| match p.byte() {
                s if s >= 0xF0 => Some(ObjectId(if s & 1 == 0 { 0 } else { u64::MAX })),
                s => older.get(usize::from(s) % older.len().max(1)).copied(),
            })
            .collect()
    }

    pub(super) fn item(&mut self, p: &mut Payload<'_>, below: ObjectId) -> Item {
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

    pub(super) fn items(&mut self, p: &mut Payload<'_>, below: ObjectId) -> Vec<Item> {
        let n = match p.byte() {
            s if s >= 0xF8 => 40,
            s => usize::from(s % 5),
        };
        (0..n).map(|_| self.item(p, below)).collect()
    }

    /// Encodes arguments of signature `sig` (see [`TYPES`]) for an object newer than
    /// `below`.
    pub(super) fn args(&mut self, sig: &str, p: &mut Payload<'_>, below: ObjectId) -> Vec<u8> {
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

    /// Sends a `Create` with the fingerprint opcode `op` picks; when answered, checks
    /// that the object kept it and remembers the object.
    pub(super) async fn create(&mut self, id: RequestId, op: u8, k: usize, args: &[u8]) {
        let fingerprint = fingerprint_for(op);
        self.send(id, &Request::Create { type_id: TYPES[k].0, fingerprint, args });
        if id != NO_RESPONSE
            && let Some(Answer::Object(object, _, kept)) = self.answer(id).await
        {
            assert_eq!(kept, fingerprint, "a built-in keeps the fingerprint its creator gives");
            self.created.push((object, k));
        }
    }

    pub(super) async fn play(&mut self, mut program: &[u8]) {
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

    pub(super) async fn op(&mut self, op: u8, p: &mut Payload<'_>) {
        match op & 0x0F {
            0 => {
                let k = usize::from(p.byte()) % TYPES.len();
                let args = self.args(&TYPES[k].1, p, ObjectId(u64::MAX));
                let id = if op >> 4 == 0xF { NO_RESPONSE } else { self.fresh_id() };
                self.create(id, op, k, &args).await;
            }
            1 => {
                let k = usize::from(p.byte());
                let id = if op >> 4 == 0xF { NO_RESPONSE } else { self.fresh_id() };
                let args = p.rest();
                if k < TYPES.len() {
                    self.create(id, op, k, args).await;
                } else {
                    let fingerprint = fingerprint_for(op);
                    self.send(id, &Request::Create { type_id: "no such type", fingerprint, args });
                }
            }
            2..=4 => {
                let (object, k) = self.target(p);
                let s = p.byte();
                let (name, sig) = match k {
                    Some(k) => {
                        let (name, sig) = &TYPES[k].2[usize::from(s & 0x7F) % TYPES[k].2.len()];
                        (*name, sig.as_str())
                    }
                    None => ("len", ""),
                };
                let args = self.args(sig, p, object);
                let method = if s >= 0x80 { MethodRef::Id(method_id(name)) } else { MethodRef::Name(name) };
                let id = self.id_for(op);
                self.send(id, &Request::Call { object, method, args: &args });
            }
            5 => {
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
            // The payload was unused before `Lease` and `Collect` came: every stored input
            // has none or a zero here, which still means the waited `Ping`. Streams then
            // took a zero followed by a non-zero byte, which no stored input had.
            12 => match p.byte() {
                0 => match p.byte() {
                    0 => {
                        let id = self.fresh_id();
                        self.send(id, &Request::Ping);
                        self.answer(id).await;
                    }
                    s => self.stream_op(op, s, p),
                },
                s if s & 1 == 1 => {
                    let (object, _) = self.target(p);
                    let id = self.id_for(op);
                    self.send(id, &Request::Lease { object });
                }
                // `Collect` read no more of its payload: a non-zero byte after it is an
                // `Inspect` (no stored input had one there).
                _ => {
                    let id = self.id_for(op);
                    match p.byte() {
                        0 => self.send(id, &Request::Collect),
                        q => {
                            let query = match q % 3 {
                                0 => Query::Connections,
                                1 => Query::Object { id: self.target(p).0 },
                                _ => Query::Objects { type_id: TYPES.get(usize::from(p.byte())).map(|t| t.0) },
                            };
                            self.send(id, &Request::Inspect { query });
                        }
                    }
                }
            },
            13 => {
                let wait = p.pick(SLEEPS);
                self.flush().await;
                tokio::time::sleep(wait).await;
            }
            14 => {
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
