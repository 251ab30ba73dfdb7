//! Sessions that survive a broken connection: what a client asks for in its handshake,
//! what the server answers, and the link between them — both ends' state, with no I/O.
//!
//! A client that opts into reconnecting asks for a session in its handshake proof (the
//! proof's MAC covers the request). The server then serves the connection behind a
//! *relay*: the connection task talks to one end of a local socket pair, and a relay
//! task carries its bytes over the network link, which may break and be replaced while
//! the connection task notices nothing. Each end keeps what it sent until the peer
//! acknowledges it; after a break, a new link (a fresh socket and a full handshake)
//! names the session and how many bytes it received, and each end sends again exactly
//! what the other did not get. Requests and replies therefore cross exactly once:
//! nothing is run twice, nothing answered twice, nothing lost.
//!
//! ```text
//! client conn ⇄ socket pair ⇄ client relay ══ link (TCP/TLS/Unix) ══ server relay ⇄ socket pair ⇄ server conn
//! ```
//!
//! On the link, every message is a frame whose payload starts with a tag:
//! `DATA bytes…` (the inner stream's bytes), `ACK u64` (DATA bytes received so far, all
//! links counted), `PING`, `PONG` (the link's own liveness) and `CLOSE` (the inner
//! stream ended on purpose: no grace period to wait out).
//!
//! ```
//! use manager_proto::session::{Relay, Event};
//! let (mut client, mut server) = (Relay::new(), Relay::new());
//! client.from_inner(b"request");
//! let wire = client.take_to_link();
//! server.link_buffer().extend_from_slice(&wire);
//! server.process_link().unwrap();
//! assert_eq!(server.take_to_inner(), b"request");
//! // The link breaks before anything is acknowledged; a new one resumes from what the
//! // server says it received: nothing is sent twice.
//! let (from, early, upto) = client.resend_early();
//! server.resume(client.received(), from).unwrap();
//! server.link_buffer().extend_from_slice(&early);
//! server.process_link().unwrap();
//! assert!(server.take_to_inner().is_empty(), "the server had it: dropped, not doubled");
//! client.resumed(server.received(), upto).unwrap();
//! assert!(client.take_to_link().is_empty());
//! # let _ = Event::Closed;
//! ```

use crate::frame::{self, FrameDecoder};
use std::collections::VecDeque;
use std::time::Duration;

/// Bytes in a session id.
pub const SESSION_ID_LEN: usize = 16;
/// The largest DATA payload a relay sends in one link frame.
pub const MAX_CHUNK: usize = 64 * 1024;
/// A receiver acknowledges after this many DATA bytes (and on every tick otherwise).
pub const ACK_EVERY: u64 = 32 * 1024;
/// Bytes a relay keeps unacknowledged before it stops taking more from its connection.
pub const REPLAY_LIMIT: usize = 8 * 1024 * 1024;
/// The most a resuming client sends right after its proof, before the server's answer:
/// enough for the calls that waited, without a large write inside the handshake.
pub const RESEND_EARLY: usize = 64 * 1024;

const DATA: u8 = 0;
const ACK: u8 = 1;
const PING: u8 = 2;
const PONG: u8 = 3;
const CLOSE: u8 = 4;

const NEW: u8 = 1;
const RESUME: u8 = 2;
const STARTED: u8 = 0;
const RESUMED: u8 = 1;
const UNKNOWN: u8 = 2;

/// A session's name: random, known only to the client and the server.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; SESSION_ID_LEN]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A session id is a capability (with the key): never printed whole.
        write!(f, "SessionId({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// What a client asks for in its handshake proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRequest {
    /// Serve this connection as a session that survives breaks; the client pings the
    /// link at least once per `keepalive`.
    New {
        /// How often the client speaks on an idle link.
        keepalive: Duration,
    },
    /// Continue a session on this new link. The client sends again, right after its
    /// proof, what it sent from byte `resent_from` on (what the server had
    /// acknowledged); the server skips what of it it already has.
    Resume {
        /// The session.
        id: SessionId,
        /// DATA bytes the client received from the server, all links counted.
        received: u64,
        /// Where the DATA the client sends after its proof starts in the stream.
        resent_from: u64,
    },
}

/// A session message that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed session message: {0}")]
pub struct SessionError(pub &'static str);

fn take<const N: usize>(msg: &[u8]) -> Result<([u8; N], &[u8]), SessionError> {
    msg.split_first_chunk::<N>().map(|(h, r)| (*h, r)).ok_or(SessionError("too short"))
}

fn done(rest: &[u8]) -> Result<(), SessionError> {
    if rest.is_empty() { Ok(()) } else { Err(SessionError("trailing bytes")) }
}

impl SessionRequest {
    /// Its bytes, appended to the handshake proof.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + SESSION_ID_LEN + 8);
        match self {
            SessionRequest::New { keepalive } => {
                out.push(NEW);
                let ms = u64::try_from(keepalive.as_millis()).unwrap_or(u64::MAX);
                out.extend_from_slice(&ms.to_le_bytes());
            }
            SessionRequest::Resume { id, received, resent_from } => {
                out.push(RESUME);
                out.extend_from_slice(&id.0);
                out.extend_from_slice(&received.to_le_bytes());
                out.extend_from_slice(&resent_from.to_le_bytes());
            }
        }
        out
    }

    /// Parses what followed a proof: nothing is no session.
    pub fn decode(bytes: &[u8]) -> Result<Option<SessionRequest>, SessionError> {
        let Some((&tag, rest)) = bytes.split_first() else { return Ok(None) };
        match tag {
            NEW => {
                let (ms, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(Some(SessionRequest::New { keepalive: Duration::from_millis(u64::from_le_bytes(ms)) }))
            }
            RESUME => {
                let (id, rest) = take::<SESSION_ID_LEN>(rest)?;
                let (received, rest) = take::<8>(rest)?;
                let (resent_from, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(Some(SessionRequest::Resume {
                    id: SessionId(id),
                    received: u64::from_le_bytes(received),
                    resent_from: u64::from_le_bytes(resent_from),
                }))
            }
            _ => Err(SessionError("unknown session request")),
        }
    }
}

/// The server's answer to a session request: one frame, right after its welcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionReply {
    /// A new session, kept for `grace` after its link breaks.
    Started {
        /// The session's name, for resuming it.
        id: SessionId,
        /// How long the server keeps a session whose link broke.
        grace: Duration,
    },
    /// The session goes on: the server had received this many DATA bytes.
    Resumed {
        /// DATA bytes the server received from the client, all links counted.
        received: u64,
    },
    /// No such session (its grace period passed, or it ended).
    Unknown,
}

impl SessionReply {
    /// Its bytes (a frame's payload).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + SESSION_ID_LEN + 8);
        match self {
            SessionReply::Started { id, grace } => {
                out.push(STARTED);
                out.extend_from_slice(&id.0);
                let ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
                out.extend_from_slice(&ms.to_le_bytes());
            }
            SessionReply::Resumed { received } => {
                out.push(RESUMED);
                out.extend_from_slice(&received.to_le_bytes());
            }
            SessionReply::Unknown => out.push(UNKNOWN),
        }
        out
    }

    /// Parses a frame's payload.
    pub fn decode(bytes: &[u8]) -> Result<SessionReply, SessionError> {
        let (&tag, rest) = bytes.split_first().ok_or(SessionError("empty"))?;
        match tag {
            STARTED => {
                let (id, rest) = take::<SESSION_ID_LEN>(rest)?;
                let (ms, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(SessionReply::Started { id: SessionId(id), grace: Duration::from_millis(u64::from_le_bytes(ms)) })
            }
            RESUMED => {
                let (received, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(SessionReply::Resumed { received: u64::from_le_bytes(received) })
            }
            UNKNOWN => done(rest).map(|()| SessionReply::Unknown),
            _ => Err(SessionError("unknown session reply")),
        }
    }
}

/// What a relay saw on its link, beyond data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer ended the session on purpose.
    Closed,
}

/// One end of a session's link: what it sent and the peer has not acknowledged (to send
/// again after a break), what it received, and the frames waiting to go either way.
#[derive(Debug)]
pub struct Relay {
    /// Bytes sent, unacknowledged; the first is byte number `replay_base` of the stream.
    replay: VecDeque<u8>,
    replay_base: u64,
    /// DATA bytes received, all links counted.
    received: u64,
    /// What we last told the peer we received.
    acked: u64,
    decoder: FrameDecoder,
    to_link: Vec<u8>,
    to_inner: Vec<u8>,
    /// DATA bytes still to drop on arrival: the peer resent them, and we had them.
    skip: u64,
    /// Set when anything came from the peer since the last tick.
    heard: bool,
    /// Set when anything went to the peer since the last tick.
    spoke: bool,
    closed: bool,
}

impl Default for Relay {
    fn default() -> Self {
        Relay::new()
    }
}

impl Relay {
    /// A relay with nothing sent or received.
    pub fn new() -> Relay {
        Relay {
            replay: VecDeque::new(),
            replay_base: 0,
            received: 0,
            acked: 0,
            skip: 0,
            decoder: FrameDecoder::new(MAX_CHUNK + 16),
            to_link: Vec::new(),
            to_inner: Vec::new(),
            heard: false,
            spoke: false,
            closed: false,
        }
    }

    /// DATA bytes received, all links counted: what a resume tells the peer.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether the local connection may hand over more bytes (the peer has not yet
    /// acknowledged [`REPLAY_LIMIT`] of them).
    pub fn can_take_inner(&self) -> bool {
        self.replay.len() < REPLAY_LIMIT
    }

    /// Bytes the local connection wrote: sent as DATA, and kept until acknowledged.
    pub fn from_inner(&mut self, bytes: &[u8]) {
        self.replay.extend(bytes);
        for chunk in bytes.chunks(MAX_CHUNK) {
            self.push_data(chunk);
        }
    }

    fn push_data(&mut self, chunk: &[u8]) {
        let start = frame::begin_frame(&mut self.to_link);
        self.to_link.push(DATA);
        self.to_link.extend_from_slice(chunk);
        // A chunk is at most MAX_CHUNK bytes: it always fits a frame.
        let _ = frame::finish_frame(&mut self.to_link, start, usize::MAX);
        self.spoke = true;
    }

    fn push(&mut self, tag: u8, value: Option<u64>) {
        let start = frame::begin_frame(&mut self.to_link);
        self.to_link.push(tag);
        if let Some(v) = value {
            self.to_link.extend_from_slice(&v.to_le_bytes());
        }
        let _ = frame::finish_frame(&mut self.to_link, start, usize::MAX);
        self.spoke = true;
    }

    /// Where to append bytes read from the link.
    pub fn link_buffer(&mut self) -> &mut Vec<u8> {
        self.decoder.buffer_mut()
    }

    /// Takes the frames read from the link: data for the local connection, acks,
    /// pings. An error means the peer broke the protocol: end the session.
    pub fn process_link(&mut self) -> Result<Option<Event>, SessionError> {
        let mut event = None;
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return Err(SessionError("link frame too large")),
            };
            self.heard = true;
            let (&tag, rest) = frame.split_first().ok_or(SessionError("empty link frame"))?;
            match tag {
                DATA => {
                    // At most `rest.len()`, so the cast is lossless.
                    let skip = self.skip.min(rest.len() as u64) as usize;
                    self.skip -= skip as u64;
                    self.to_inner.extend_from_slice(&rest[skip..]);
                    self.received += (rest.len() - skip) as u64;
                }
                ACK => {
                    let (upto, rest) = take::<8>(rest)?;
                    done(rest)?;
                    acknowledge(&mut self.replay, &mut self.replay_base, u64::from_le_bytes(upto))?;
                }
                PING => {
                    done(rest)?;
                    self.push(PONG, None);
                }
                PONG => done(rest)?,
                CLOSE => {
                    done(rest)?;
                    self.closed = true;
                    event = Some(Event::Closed);
                }
                _ => return Err(SessionError("unknown link frame")),
            }
        }
        if self.received - self.acked >= ACK_EVERY {
            self.ack();
        }
        Ok(event)
    }

    fn ack(&mut self) {
        self.acked = self.received;
        self.push(ACK, Some(self.received));
    }

    /// Once per liveness period: acknowledges what is unacknowledged, pings an idle
    /// link, and says whether the peer spoke since the last tick.
    pub fn tick(&mut self) -> bool {
        if self.received != self.acked {
            self.ack();
        }
        if !self.spoke {
            self.push(PING, None);
        }
        self.spoke = false;
        std::mem::take(&mut self.heard)
    }

    /// Says the session ends on purpose (sent before closing the link).
    pub fn close(&mut self) {
        self.push(CLOSE, None);
    }

    /// Whether the peer closed the session.
    pub fn peer_closed(&self) -> bool {
        self.closed
    }

    /// Frames for the link, taken to be written.
    pub fn take_to_link(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_link)
    }

    /// The frames waiting for the link.
    pub fn to_link(&self) -> &[u8] {
        &self.to_link
    }

    /// Marks `n` bytes of [`Relay::to_link`] written.
    pub fn link_written(&mut self, n: usize) {
        self.to_link.drain(..n.min(self.to_link.len()));
    }

    /// Bytes for the local connection, taken to be written.
    pub fn take_to_inner(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_inner)
    }

    /// The bytes waiting for the local connection.
    pub fn to_inner(&self) -> &[u8] {
        &self.to_inner
    }

    /// Marks `n` bytes of [`Relay::to_inner`] written.
    pub fn inner_written(&mut self, n: usize) {
        self.to_inner.drain(..n.min(self.to_inner.len()));
    }

    /// What a resuming client sends right after its proof: where it starts in the
    /// stream (what the peer acknowledged), the DATA frames (at most [`RESEND_EARLY`]
    /// bytes of data), and where they end.
    pub fn resend_early(&self) -> (u64, Vec<u8>, u64) {
        let n = self.replay.len().min(RESEND_EARLY);
        let data: Vec<u8> = self.replay.range(..n).copied().collect();
        let mut frames = Vec::with_capacity(n + 16);
        for chunk in data.chunks(MAX_CHUNK) {
            let start = frame::begin_frame(&mut frames);
            frames.push(DATA);
            frames.extend_from_slice(chunk);
            // A chunk is at most MAX_CHUNK bytes: it always fits a frame.
            let _ = frame::finish_frame(&mut frames, start, usize::MAX);
        }
        (self.replay_base, frames, self.replay_base + n as u64)
    }

    /// The server's side of a resume over a new link: frames half-read from the old one
    /// are dropped; the peer received `peer_received` bytes (everything after them is
    /// queued again) and resends from byte `peer_resent_from` (what of that we already
    /// have is dropped as it arrives). Fails when the peer claims bytes never sent, or
    /// less than it acknowledged, or resends from past what we received.
    pub fn resume(&mut self, peer_received: u64, peer_resent_from: u64) -> Result<(), SessionError> {
        if peer_resent_from > self.received {
            return Err(SessionError("resends from past what was received"));
        }
        self.skip = self.received - peer_resent_from;
        self.restart(peer_received)?;
        self.queue_replay(0);
        Ok(())
    }

    /// The client's side of a resume, once the server answered: the server received
    /// `peer_received` bytes and drops what it receives again up to there; what the
    /// client sent early, up to byte `sent_upto`, is on its way, and the rest follows
    /// from there (the server expects the stream whole from where the resend began).
    pub fn resumed(&mut self, peer_received: u64, sent_upto: u64) -> Result<(), SessionError> {
        let sent = self.replay_base + self.replay.len() as u64;
        if sent_upto < self.replay_base || sent_upto > sent {
            return Err(SessionError("sent early what is not in the replay"));
        }
        self.restart(peer_received.min(sent_upto))?;
        if peer_received > sent {
            return Err(SessionError("acknowledges bytes never sent"));
        }
        // After `restart` the replay starts at or before `sent_upto`: lossless.
        let from = (sent_upto - self.replay_base) as usize;
        self.queue_replay(from);
        Ok(())
    }

    /// A new link: the decoder and the queued frames start afresh, and acknowledged
    /// bytes are dropped.
    fn restart(&mut self, peer_received: u64) -> Result<(), SessionError> {
        self.decoder = FrameDecoder::new(MAX_CHUNK + 16);
        self.to_link.clear();
        acknowledge(&mut self.replay, &mut self.replay_base, peer_received)?;
        // The peer learns what we received from the resume itself.
        self.acked = self.received;
        self.heard = true;
        Ok(())
    }

    /// Queues the replay from its byte `from` on as DATA.
    fn queue_replay(&mut self, from: usize) {
        let pending: Vec<u8> = self.replay.range(from..).copied().collect();
        for chunk in pending.chunks(MAX_CHUNK) {
            self.push_data(chunk);
        }
    }
}

/// Drops what the peer acknowledged (`upto` bytes of the stream, counted from its start).
fn acknowledge(replay: &mut VecDeque<u8>, base: &mut u64, upto: u64) -> Result<(), SessionError> {
    let sent = *base + replay.len() as u64;
    if upto > sent {
        return Err(SessionError("acknowledges bytes never sent"));
    }
    if upto < *base {
        return Err(SessionError("acknowledges less than before"));
    }
    // In range: at most `replay.len()`.
    replay.drain(..(upto - *base) as usize);
    *base = upto;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(from: &mut Relay, to: &mut Relay) -> Vec<u8> {
        let wire = from.take_to_link();
        to.link_buffer().extend_from_slice(&wire);
        to.process_link().unwrap();
        to.take_to_inner()
    }

    #[test]
    fn requests_and_replies_round_trip() {
        for r in [
            SessionRequest::New { keepalive: Duration::from_millis(1500) },
            SessionRequest::Resume { id: SessionId([7; 16]), received: 99, resent_from: 3 },
        ] {
            assert_eq!(SessionRequest::decode(&r.encode()).unwrap(), Some(r));
        }
        assert_eq!(SessionRequest::decode(&[]).unwrap(), None);
        for r in [
            SessionReply::Started { id: SessionId([1; 16]), grace: Duration::from_secs(30) },
            SessionReply::Resumed { received: 5 },
            SessionReply::Unknown,
        ] {
            assert_eq!(SessionReply::decode(&r.encode()).unwrap(), r);
        }
        assert!(SessionRequest::decode(&[9]).is_err());
        assert!(SessionReply::decode(&[RESUMED, 1]).is_err());
    }

    #[test]
    fn a_break_loses_nothing_and_doubles_nothing() {
        let (mut c, mut s) = (Relay::new(), Relay::new());
        c.from_inner(b"one");
        assert_eq!(deliver(&mut c, &mut s), b"one");
        c.from_inner(b"two");
        // "two" is lost with the link; the server never saw it.
        let _lost = c.take_to_link();
        s.from_inner(b"reply-one");
        let _lost_too = s.take_to_link();
        // A new link: the client resends from what the server acknowledged (nothing
        // yet: "one" too, which the server drops), each side says what it received.
        let (from, early, upto) = c.resend_early();
        assert_eq!((from, upto), (0, 6));
        s.resume(c.received(), from).unwrap();
        s.link_buffer().extend_from_slice(&early);
        s.process_link().unwrap();
        assert_eq!(s.take_to_inner(), b"two");
        c.resumed(s.received(), upto).unwrap();
        assert!(c.take_to_link().is_empty());
        assert_eq!(deliver(&mut s, &mut c), b"reply-one");
    }

    #[test]
    fn a_resend_shorter_than_what_the_server_had_is_skipped_whole_and_continued() {
        let (mut c, mut s) = (Relay::new(), Relay::new());
        let big = vec![1u8; RESEND_EARLY + 1000];
        c.from_inner(&big);
        // The server got it all, but its acknowledgement was lost with the link.
        assert_eq!(deliver(&mut c, &mut s).len(), big.len());
        let _lost_ack = s.take_to_link();
        c.from_inner(b"new");
        let _lost = c.take_to_link();
        let (from, early, upto) = c.resend_early();
        assert_eq!((from, upto), (0, RESEND_EARLY as u64));
        s.resume(c.received(), from).unwrap();
        s.link_buffer().extend_from_slice(&early);
        s.process_link().unwrap();
        assert!(s.take_to_inner().is_empty());
        c.resumed(s.received(), upto).unwrap();
        assert_eq!(deliver(&mut c, &mut s), b"new", "the rest of the resend is skipped, the new bytes land once");
    }

    #[test]
    fn acknowledged_bytes_are_forgotten() {
        let (mut c, mut s) = (Relay::new(), Relay::new());
        let big = vec![5u8; 3 * MAX_CHUNK];
        c.from_inner(&big);
        assert_eq!(deliver(&mut c, &mut s), big);
        // The server acknowledged (over ACK_EVERY bytes): its ack reaches the client.
        deliver(&mut s, &mut c);
        assert_eq!(c.replay.len(), 0);
        assert!(c.resumed(0, 0).is_err(), "the peer cannot have received less than it acknowledged");
        assert!(s.resume(0, s.received() + 1).is_err(), "nor resend from past what we received");
    }

    #[test]
    fn a_tick_pings_an_idle_link_and_reports_silence() {
        let (mut c, mut s) = (Relay::new(), Relay::new());
        assert!(!c.tick());
        deliver(&mut c, &mut s); // the ping
        deliver(&mut s, &mut c); // the pong
        assert!(c.tick());
        c.close();
        deliver(&mut c, &mut s);
        assert!(s.peer_closed());
    }

    #[test]
    fn garbage_on_the_link_is_an_error_not_a_panic() {
        let mut s = Relay::new();
        s.link_buffer().extend_from_slice(&[0, 0, 0, 1, 9]);
        assert!(s.process_link().is_err());
        let mut s = Relay::new();
        s.link_buffer().extend_from_slice(&[0, 0, 0, 9, ACK, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(s.process_link().is_err(), "acknowledges bytes never sent");
    }
}
