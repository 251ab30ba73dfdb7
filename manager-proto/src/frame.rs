//! Frames: a 4-byte big-endian payload length, then the payload.
//!
//! The length is checked against the reader's limit as soon as its 4 bytes arrive, so a
//! peer that announces 4 GiB makes us allocate nothing: the decoder only ever holds the
//! bytes that really arrived, and refuses the frame before they do.

use std::ops::Range;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 4;

/// Default limit on a frame's payload: 64 MiB.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

/// Limit on a frame's payload before the handshake completes: the hello messages are
/// tiny, and an unauthenticated peer gets no more room than it needs.
pub const HANDSHAKE_MAX_FRAME: usize = 256;

/// What can be wrong with a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header announced more than the reader accepts.
    #[error("frame of {announced} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What the header announced.
        announced: u64,
        /// The reader's limit.
        limit: usize,
    },
}

/// Reserves a header at the end of `buf` and returns where the frame starts; write the
/// payload after it, then call [`finish_frame`].
///
/// Building the payload in place saves a copy per message.
pub fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER_LEN]);
    start
}

/// Writes the length of the payload that follows the header at `start`.
///
/// Fails (and truncates the partial frame away) when the payload is larger than `limit`.
pub fn finish_frame(buf: &mut Vec<u8>, start: usize, limit: usize) -> Result<(), FrameError> {
    let len = buf.len() - start - HEADER_LEN;
    if len > limit || u32::try_from(len).is_err() {
        buf.truncate(start);
        return Err(FrameError::TooLarge { announced: len as u64, limit });
    }
    // The check above makes the cast lossless.
    buf[start..start + HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Appends one frame holding `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), FrameError> {
    let start = begin_frame(out);
    out.extend_from_slice(payload);
    finish_frame(out, start, limit)
}

/// Splits a byte stream into frames.
///
/// The I/O side appends what it reads to [`FrameDecoder::buffer_mut`] and then takes
/// frames with [`FrameDecoder::next_frame`] until it returns `None`. One read can hold
/// many frames (pipelined requests), and one frame can span many reads.
#[derive(Debug)]
pub struct FrameDecoder {
    /// Bytes read and not yet consumed start at `start`.
    buf: Vec<u8>,
    /// Where the first unconsumed byte is; consumed bytes are dropped lazily, in bulk.
    start: usize,
    /// The largest payload accepted.
    limit: usize,
}

impl FrameDecoder {
    /// A decoder that refuses payloads over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        FrameDecoder { buf: Vec::with_capacity(8 * 1024), start: 0, limit }
    }

    /// The payload limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the payload limit (after a handshake, for instance).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// The buffer to append newly read bytes to. Consumed bytes are dropped first.
    pub fn buffer_mut(&mut self) -> &mut Vec<u8> {
        if self.start > 0 {
            if self.start == self.buf.len() {
                self.buf.clear();
            } else {
                self.buf.drain(..self.start);
            }
            self.start = 0;
        }
        &mut self.buf
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame's payload, if one has fully arrived.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        match self.next_range()? {
            Some(range) => Ok(Some(&self.buf[range])),
            None => Ok(None),
        }
    }

    /// Like [`next_frame`](Self::next_frame), as a range of [`Self::bytes`], so the caller
    /// can keep the decoder borrowed mutably meanwhile.
    pub fn next_range(&mut self) -> Result<Option<Range<usize>>, FrameError> {
        let avail = &self.buf[self.start..];
        let Some(header) = avail.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header) as usize;
        if len > self.limit {
            return Err(FrameError::TooLarge { announced: len as u64, limit: self.limit });
        }
        if avail.len() < HEADER_LEN + len {
            // Make room once for the rest of a large frame instead of growing in steps;
            // the limit check above bounds what this can allocate.
            let missing = HEADER_LEN + len - avail.len();
            if self.buf.capacity() - self.buf.len() < missing {
                // A large frame: this thread's spare buffer may have room already.
                let need = self.buf.len() - self.start + missing;
                if let Some(mut spare) = crate::spare::take(need) {
                    spare.extend_from_slice(&self.buf[self.start..]);
                    self.buf = spare;
                    self.start = 0;
                } else {
                    self.buf.reserve(missing);
                }
            }
            return Ok(None);
        }
        let begin = self.start + HEADER_LEN;
        self.start = begin + len;
        Ok(Some(begin..begin + len))
    }

    /// The decoder's buffer, for use with ranges from [`next_range`](Self::next_range).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Hands over the whole buffer when the frame at `range` (just returned by
    /// [`next_range`](Self::next_range)) is the last thing in it, so a large payload
    /// changes hands without a copy; the decoder starts again empty. `None` (and
    /// nothing changes) when more bytes follow the frame.
    ///
    /// ```
    /// use manager_proto::frame::{FrameDecoder, encode_frame};
    /// let mut dec = FrameDecoder::new(1 << 20);
    /// encode_frame(&[7; 1000], dec.buffer_mut(), 1 << 20).unwrap();
    /// let range = dec.next_range().unwrap().unwrap();
    /// let buf = dec.take_buffer_if_last(&range).unwrap();
    /// assert_eq!(&buf[range], &[7; 1000][..]);
    /// assert_eq!(dec.buffered(), 0);
    /// ```
    pub fn take_buffer_if_last(&mut self, range: &Range<usize>) -> Option<Vec<u8>> {
        if range.end != self.buf.len() || self.start != range.end {
            return None;
        }
        self.start = 0;
        Some(std::mem::take(&mut self.buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads_and_packed_in_one() {
        let mut wire = Vec::new();
        encode_frame(b"hello", &mut wire, 100).unwrap();
        encode_frame(b"", &mut wire, 100).unwrap();
        encode_frame(b"world!", &mut wire, 100).unwrap();
        let mut dec = FrameDecoder::new(100);
        let mut got = Vec::new();
        for byte in &wire {
            dec.buffer_mut().push(*byte);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f.to_vec());
            }
        }
        assert_eq!(got, vec![b"hello".to_vec(), vec![], b"world!".to_vec()]);
        let mut dec = FrameDecoder::new(100);
        dec.buffer_mut().extend_from_slice(&wire);
        assert_eq!(dec.next_frame().unwrap(), Some(&b"hello"[..]));
        assert_eq!(dec.next_frame().unwrap(), Some(&b""[..]));
        assert_eq!(dec.next_frame().unwrap(), Some(&b"world!"[..]));
        assert_eq!(dec.next_frame().unwrap(), None);
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn a_large_frame_is_read_into_the_threads_spare_buffer_intact() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        encode_frame(b"small", &mut wire, usize::MAX).unwrap();
        encode_frame(&payload, &mut wire, usize::MAX).unwrap();
        let spare = Vec::with_capacity(300_000);
        let spare_ptr = spare.as_ptr();
        crate::spare::give(spare);
        let mut dec = FrameDecoder::new(usize::MAX);
        // The small frame and the start of the large one arrive together.
        dec.buffer_mut().extend_from_slice(&wire[..20]);
        assert_eq!(dec.next_frame().unwrap(), Some(&b"small"[..]));
        assert_eq!(dec.next_frame().unwrap(), None);
        assert_eq!(dec.buffer_mut().as_ptr(), spare_ptr, "the rest is read into the spare");
        for chunk in wire[20..].chunks(4096) {
            dec.buffer_mut().extend_from_slice(chunk);
        }
        assert_eq!(dec.next_frame().unwrap(), Some(&payload[..]));
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn oversize_header_is_refused_before_the_payload_arrives() {
        let mut dec = FrameDecoder::new(1024);
        dec.buffer_mut().extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(dec.next_frame(), Err(FrameError::TooLarge { announced: u64::from(u32::MAX), limit: 1024 }));
        assert!(dec.bytes().len() < 4096, "nothing was allocated for it");
    }

    #[test]
    fn encoding_over_the_limit_fails_and_leaves_the_buffer_as_it_was() {
        let mut out = vec![1, 2, 3];
        assert!(encode_frame(&[0; 10], &mut out, 9).is_err());
        assert_eq!(out, vec![1, 2, 3]);
    }
}
