//! Streams in the harness: the operations that open, credit and cancel them (op 12 with
//! a zero first byte and a non-zero second: an encoding no stored input used), and the
//! checks of their replies.

use super::*;

/// Credits, in bytes, for an `Open` and a `Credit`: none, a little, a batch, the client's
/// window and its half, and the extremes.
pub(super) const CREDITS: &[u32] = &[
    0,
    1,
    7,
    4096,
    64 * 1024,
    manager_proto::stream::WINDOW / 2,
    manager_proto::stream::WINDOW,
    1 << 31,
    u32::MAX - 1,
    u32::MAX,
];

/// What the reader knows of the streams the driver opened, to check their replies.
#[derive(Default)]
pub(super) struct StreamLog {
    /// How many `Open`s went out with each id, and (while all of them opened a list's
    /// `iter`) that its items are `Item`s.
    opened: HashMap<RequestId, (u32, bool)>,
    /// How many `End`s came back for each id.
    ended: HashMap<RequestId, u32>,
}

impl StreamLog {
    /// An `Open` with id `id` went out; `items` if it opened a list's `iter`.
    pub(super) fn opened(&mut self, id: RequestId, items: bool) {
        let entry = self.opened.entry(id).or_insert((0, true));
        entry.0 += 1;
        entry.1 &= items;
    }

    /// Checks a stream's reply: a batch has items, the items it says (when they are known
    /// to be `Item`s), and comes for a stream opened and not yet ended; an `End` too.
    pub(super) fn check(&mut self, id: RequestId, answer: &Answer) {
        let (opens, items_known) = self.opened.get(&id).copied().unwrap_or((0, false));
        let ended = self.ended.get(&id).copied().unwrap_or(0);
        match answer {
            Answer::Items(count, bytes) => {
                assert!(
                    ended < opens,
                    "items for stream {id} after its end, or for no stream opened ({ended} ends of {opens})"
                );
                assert!(*count > 0, "an empty batch for stream {id}");
                if items_known {
                    let mut rest = &bytes[..];
                    for n in 0..*count {
                        let (_, tail) = postcard::take_from_bytes::<Item>(rest).unwrap_or_else(|e| {
                            panic!("stream {id}'s batch says {count} items, item {n} does not decode: {e}")
                        });
                        rest = tail;
                    }
                    assert!(rest.is_empty(), "stream {id}'s batch of {count} items has {} bytes more", rest.len());
                }
            }
            Answer::End => {
                assert!(ended < opens, "an end for stream {id}, which is not open ({ended} ends of {opens})");
                self.ended.insert(id, ended + 1);
            }
            _ => {}
        }
    }
}

impl Driver<'_> {
    /// A stream to address: one opened so far (the latest first), a recent request, or
    /// (≥ 0xF0) an id that names no stream.
    fn stream_target(&mut self, p: &mut Payload<'_>) -> RequestId {
        match p.byte() {
            s if s >= 0xF0 => FIRST_ID.wrapping_sub(u64::from(s & 0x0F)),
            s if !self.streams.is_empty() => self.streams[self.streams.len() - 1 - usize::from(s) % self.streams.len()],
            s => self.recent.iter().rev().nth(usize::from(s % 4)).copied().unwrap_or(FIRST_ID),
        }
    }

    fn credit(p: &mut Payload<'_>) -> u32 {
        match p.byte() {
            s if s >= 0xE0 => p.raw_u64() as u32,
            s => CREDITS[usize::from(s) % CREDITS.len()],
        }
    }

    /// Op 12 with payload `[0, s, …]`, `s` non-zero: by `s % 4`, an `Open` (1), a `Credit`
    /// (2), a `Cancel` of a stream (3), or a `Credit` of every stream opened so far (0).
    pub(super) fn stream_op(&mut self, op: u8, s: u8, p: &mut Payload<'_>) {
        match s % 4 {
            1 => self.open(op, s, p),
            2 => {
                let target = self.stream_target(p);
                let bytes = Self::credit(p);
                let id = self.id_for(op);
                self.send(id, &Request::Credit { target, bytes });
            }
            3 => {
                let target = self.stream_target(p);
                let id = self.id_for(op);
                self.send(id, &Request::Cancel { target });
            }
            _ => {
                let bytes = Self::credit(p);
                for target in self.streams.clone() {
                    self.send(NO_RESPONSE, &Request::Credit { target, bytes });
                }
            }
        }
    }

    /// `Open` of any method of an object (a stream method succeeds, another fails), by
    /// name or (method byte ≥ 0x80) by id, with arguments following its signature or
    /// (`s` ≥ 0x80) the payload's raw bytes, and a credit from [`CREDITS`].
    fn open(&mut self, op: u8, s: u8, p: &mut Payload<'_>) {
        let (object, k) = self.target(p);
        let m = p.byte();
        let (name, sig) = match k {
            Some(k) => {
                let (name, sig) = &TYPES[k].2[usize::from(m & 0x7F) % TYPES[k].2.len()];
                (*name, sig.as_str())
            }
            None => ("iter", ""),
        };
        let credit = Self::credit(p);
        let args = if s >= 0x80 { p.rest().to_vec() } else { self.args(sig, p, object) };
        let method = if m >= 0x80 { MethodRef::Id(method_id(name)) } else { MethodRef::Name(name) };
        let id = self.id_for(op);
        let list_iter = k.is_some_and(|k| TYPES[k].0 == b::LIST) && name == "iter";
        if id != NO_RESPONSE {
            self.inbox.borrow_mut().streams.opened(id, list_iter);
            if !self.streams.contains(&id) {
                self.streams.push(id);
            }
        }
        self.send(id, &Request::Open { object, method, credit, args: &args });
    }
}
