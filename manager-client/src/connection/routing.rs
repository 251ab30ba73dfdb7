//! What every reader of the socket does with a read: bytes into the decoder, then each
//! complete response to its waiter (a large one takes the receive buffer along instead
//! of being copied out).

use manager_proto::frame::FrameDecoder;
use manager_proto::response::kind as response_kind;
use manager_proto::{Lost, NO_RESPONSE, RemoteErrorKind, RequestId, Response};
use std::io;
use std::sync::atomic::Ordering;

use super::{ConnState, lock, try_lock};
use crate::in_flight::Payload;
use crate::stream::Stream;

/// What one read by the reader task came to.
pub(super) enum Read {
    /// Bytes came; this many responses went to their waiters.
    Routed(usize),
    /// No bytes now.
    Nothing,
    /// A calling thread holds the decoder (and reads the socket).
    Taken,
    /// The connection is over, for this reason.
    Failed(Lost),
}

/// Reads once with `read` (bytes read, 0 at the end of the stream) into the decoder and
/// routes what completed — unless a calling thread is reading.
pub(super) fn read_and_route(state: &ConnState, read: impl FnOnce(&Stream, &mut Vec<u8>) -> io::Result<usize>) -> Read {
    let Some(mut decoder) = try_lock(&state.decoder) else {
        return Read::Taken;
    };
    match read_into(state, &mut decoder, read) {
        Ok(true) => route(state, &mut decoder).map_or_else(Read::Failed, Read::Routed),
        Ok(false) => Read::Nothing,
        Err(reason) => Read::Failed(reason),
    }
}

/// One read with `read` into `decoder`: `Ok(true)` when bytes came (the server was
/// heard), `Ok(false)` when none came (`WouldBlock`), `Err` with why the connection is
/// over. What every reader of the socket does with a read's answer.
pub(super) fn read_into(
    state: &ConnState,
    decoder: &mut FrameDecoder,
    read: impl FnOnce(&Stream, &mut Vec<u8>) -> io::Result<usize>,
) -> Result<bool, Lost> {
    match read(&state.stream, decoder.buffer_mut()) {
        Ok(0) => Err(Lost::Closed),
        Ok(_) => {
            state.heard.store(true, Ordering::Relaxed);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(Lost::read(e)),
    }
}

impl ConnState {
    /// After a write failed because the server closed: reads, without waiting, what it
    /// sent before it did, so that its shutdown notice (and any answers) are heard and
    /// the connection ends as `ServerShutDown`, not as a broken pipe. A blocking client
    /// has no reader task that would have read them already. Skipped if someone else
    /// holds the decoder: they are reading.
    pub(super) fn hear_last_words(&self) {
        if let Some(mut decoder) = try_lock(&self.decoder) {
            self.hear_last_words_with(&mut decoder);
        }
    }

    /// [`hear_last_words`](Self::hear_last_words) by the holder of the decoder.
    pub(super) fn hear_last_words_with(&self, decoder: &mut FrameDecoder) {
        // Bounded: what a closed peer left in the socket buffer, not a stream.
        for _ in 0..64 {
            match read_into(self, decoder, |s, buf| s.spin_read(buf, std::time::Duration::ZERO)) {
                Ok(true) if route(self, decoder).is_ok() => {}
                _ => return,
            }
        }
    }
}

/// Hands every complete response in `decoder` to its waiter; returns how many there
/// were.
pub(super) fn route(state: &ConnState, decoder: &mut FrameDecoder) -> Result<usize, Lost> {
    route_except(state, decoder, None).map(|(routed, _)| routed)
}

/// [`route`], except that the response to `mine` (a call whose thread reads for itself,
/// not in the in-flight map) is returned instead.
pub(super) fn route_except(
    state: &ConnState,
    decoder: &mut FrameDecoder,
    mine: Option<RequestId>,
) -> Result<(usize, Option<Payload>), Lost> {
    let mut routed = 0;
    let mut own = None;
    loop {
        let range = match decoder.next_range() {
            Ok(Some(range)) => range,
            Ok(None) => return Ok((routed, own)),
            Err(e) => return Err(Lost::BadFrame(e)),
        };
        let (id, kind, body) = Response::peek_header(&decoder.bytes()[range.clone()]).map_err(Lost::BadResponse)?;
        if id == NO_RESPONSE {
            // A notice to no request: the server is shutting down.
            if kind == response_kind::ERROR
                && let Ok((_, Response::Error(e))) = Response::decode(&decoder.bytes()[range.clone()])
                && e.kind == RemoteErrorKind::ShuttingDown
            {
                state.server_shut_down.store(true, Ordering::Release);
            }
            continue;
        }
        // A large payload that ends the buffer takes the buffer along instead of being
        // copied out of it (a 1 MiB value is copied once less).
        let taken = if range.len() >= LARGE_PAYLOAD { decoder.take_buffer_if_last(&range) } else { None };
        let payload = match taken {
            Some(buf) => Payload::taken(buf, range.start, kind, body),
            None => Payload::copied(&decoder.bytes()[range], kind, body),
        };
        if Some(id) == mine {
            own = Some(payload);
            continue;
        }
        let waker = lock(&state.in_flight).complete(id, payload);
        if let Some(waker) = waker {
            waker.wake();
        }
        routed += 1;
    }
}

/// From this size on, a response payload that ends the receive buffer takes the buffer.
const LARGE_PAYLOAD: usize = 64 * 1024;
