//! One end of a session's link: the replay buffer, acknowledgements, pings and resume
//! offsets, as state with no I/O.

use crate::frame::{self, FrameDecoder};
use std::collections::VecDeque;

use super::messages::{SessionError, done, take};

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

    /// Bytes sent and not yet acknowledged by the peer (kept to send again).
    pub fn unacknowledged(&self) -> usize {
        self.replay.len()
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
