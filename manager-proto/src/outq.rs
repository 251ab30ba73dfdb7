//! Frames waiting to be written, without copying large payloads into one buffer.
//!
//! Small frames are built in place in one growing buffer, as before. A frame whose
//! payload holds a large byte string the caller already owns (a 1 MiB argument, a
//! 1 MiB reply) keeps that string as a segment of its own; the writer hands the kernel
//! all segments at once (`sendmsg`), so the payload is copied once — into the socket —
//! instead of twice. Pure bookkeeping: the I/O is the caller's.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::ops::{Deref, Range};
use std::sync::Arc;

use crate::frame::{self, FrameError};

/// From this size on, a frame's owned body is queued as a segment of its own instead of
/// being copied into the buffer.
pub const OWNED_BODY_MIN: usize = 64 * 1024;

/// At most this many segments go to one vectored write.
pub const MAX_SLICES: usize = 16;

/// Bytes shared by everyone who holds them: a part of one reference-counted buffer. A
/// server stores a large element this way — often as the part of the request frame it
/// arrived in — and queues replies carrying it without copying it.
///
/// ```
/// use manager_proto::outq::SharedBytes;
/// let frame = SharedBytes::from(b"head:value:tail".to_vec());
/// let value = frame.part(&frame[5..10]).unwrap();
/// assert_eq!(&*value, b"value");
/// // Bytes that do not lie in the buffer are not a part of it.
/// assert!(frame.part(b"value").is_none());
/// ```
///
/// Kept rather than `bytes::Bytes` (which would do): the zero-copy tests assert on
/// [`holders`](Self::holders) — that a request frame is let go exactly when the last
/// element stored from it is — and `Bytes` does not expose its count; swapping it is
/// worth doing with those tests rewritten, and measured.
#[derive(Clone, Debug)]
pub struct SharedBytes {
    buf: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl SharedBytes {
    /// The part of this buffer that `bytes` occupies, sharing the buffer; `None` when
    /// `bytes` does not lie within it.
    pub fn part(&self, bytes: &[u8]) -> Option<SharedBytes> {
        // Addresses compared as numbers: no pointer is made from them.
        let base = self.buf.as_ptr() as usize;
        let start = (bytes.as_ptr() as usize).checked_sub(base)?;
        let end = start.checked_add(bytes.len())?;
        (start >= self.range.start && end <= self.range.end)
            .then(|| SharedBytes { buf: Arc::clone(&self.buf), range: start..end })
    }

    /// How many holders share the buffer (this one included).
    pub fn holders(&self) -> usize {
        Arc::strong_count(&self.buf)
    }

    /// The bytes as a buffer of their own: the buffer itself when nobody else holds it
    /// and these are all its bytes, else a copy.
    pub fn into_vec(self) -> Vec<u8> {
        let whole = self.range == (0..self.buf.len());
        match Arc::try_unwrap(self.buf) {
            Ok(buf) if whole => buf,
            Ok(buf) => buf[self.range].to_vec(),
            Err(buf) => buf[self.range].to_vec(),
        }
    }
}

impl From<Vec<u8>> for SharedBytes {
    fn from(buf: Vec<u8>) -> SharedBytes {
        SharedBytes { range: 0..buf.len(), buf: Arc::new(buf) }
    }
}

impl Deref for SharedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[self.range.clone()]
    }
}

impl PartialEq for SharedBytes {
    fn eq(&self, other: &SharedBytes) -> bool {
        **self == **other
    }
}

impl Eq for SharedBytes {}

/// A segment closed to appending.
#[derive(Debug)]
enum Segment {
    /// An owned body, or the buffer that was open when one was queued; given back to
    /// this thread's spare buffer once written.
    Owned(Vec<u8>),
    /// Bytes shared with whoever else holds them (a stored element), written as they lie.
    Shared(SharedBytes),
}

impl Segment {
    fn bytes(&self) -> &[u8] {
        match self {
            Segment::Owned(v) => v,
            Segment::Shared(v) => v,
        }
    }
}

/// Bytes waiting to be written, in order: the `sealed` segments, then `open`.
#[derive(Debug, Default)]
pub struct OutQueue {
    /// Segments closed to appending: owned and shared bodies, and the buffer that was
    /// open when one was queued.
    sealed: VecDeque<Segment>,
    /// Where new frames are built.
    open: Vec<u8>,
    /// Bytes of the first segment (the first sealed one, or else `open`) already written.
    pos: usize,
    /// Bytes not yet written, in all segments.
    pending: usize,
}

impl OutQueue {
    /// An empty queue whose buffer has room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        OutQueue { open: Vec::with_capacity(capacity), ..OutQueue::default() }
    }

    /// Bytes not yet written.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Appends one frame whose payload `encode` writes. A payload over `limit` is not
    /// queued: the error says so and the queue is as before.
    #[inline]
    pub fn frame(&mut self, limit: usize, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), FrameError> {
        self.reclaim();
        let start = frame::begin_frame(&mut self.open);
        encode(&mut self.open);
        frame::finish_frame(&mut self.open, start, limit)?;
        self.pending += self.open.len() - start;
        Ok(())
    }

    /// Appends one frame whose payload is what `head` writes, then `body`, then
    /// `trailer`. A large body is queued as it is, not copied.
    pub fn frame_with_body(
        &mut self,
        limit: usize,
        head: impl FnOnce(&mut Vec<u8>),
        body: Vec<u8>,
        trailer: &[u8],
    ) -> Result<(), FrameError> {
        if body.len() < OWNED_BODY_MIN {
            return self.frame_copied(limit, head, &body, trailer);
        }
        self.frame_with_segment(limit, head, Segment::Owned(body), trailer)
    }

    /// Like [`frame_with_body`](Self::frame_with_body), with a body shared with its
    /// other holders (a server's stored element): a large one is written from where it
    /// lies, never copied, and let go once written.
    ///
    /// ```
    /// use manager_proto::outq::{OWNED_BODY_MIN, OutQueue, SharedBytes};
    /// let stored = SharedBytes::from(vec![7u8; OWNED_BODY_MIN]);
    /// let mut q = OutQueue::default();
    /// q.frame_with_shared(usize::MAX, |b| b.push(1), stored.clone(), &[2]).unwrap();
    /// assert_eq!(stored.holders(), 2, "queued without a copy");
    /// assert_eq!(q.pending(), 4 + 1 + OWNED_BODY_MIN + 1);
    /// ```
    pub fn frame_with_shared(
        &mut self,
        limit: usize,
        head: impl FnOnce(&mut Vec<u8>),
        body: SharedBytes,
        trailer: &[u8],
    ) -> Result<(), FrameError> {
        if body.len() < OWNED_BODY_MIN {
            return self.frame_copied(limit, head, &body, trailer);
        }
        self.frame_with_segment(limit, head, Segment::Shared(body), trailer)
    }

    /// Appends a frame of `head`, then a copy of the (small) `body`, then `trailer`, in
    /// the buffer.
    fn frame_copied(
        &mut self,
        limit: usize,
        head: impl FnOnce(&mut Vec<u8>),
        body: &[u8],
        trailer: &[u8],
    ) -> Result<(), FrameError> {
        self.frame(limit, |out| {
            head(out);
            out.extend_from_slice(body);
            out.extend_from_slice(trailer);
        })
    }

    /// Appends a frame of `head`, then `body` as a segment of its own, then `trailer`.
    fn frame_with_segment(
        &mut self,
        limit: usize,
        head: impl FnOnce(&mut Vec<u8>),
        body: Segment,
        trailer: &[u8],
    ) -> Result<(), FrameError> {
        self.reclaim();
        let start = frame::begin_frame(&mut self.open);
        head(&mut self.open);
        let len = self.open.len() - start - frame::HEADER_LEN + body.bytes().len() + trailer.len();
        if len > limit || u32::try_from(len).is_err() {
            self.open.truncate(start);
            return Err(FrameError::TooLarge { announced: len as u64, limit });
        }
        // The check above makes the cast lossless.
        self.open[start..start + frame::HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
        self.pending += self.open.len() - start + body.bytes().len() + trailer.len();
        let open = std::mem::take(&mut self.open);
        self.sealed.push_back(Segment::Owned(open));
        self.sealed.push_back(body);
        self.open.extend_from_slice(trailer);
        Ok(())
    }

    /// The unwritten bytes as slices for one vectored write (at most [`MAX_SLICES`]).
    pub fn slices(&self) -> ([IoSlice<'_>; MAX_SLICES], usize) {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut n = 0;
        let mut skip = self.pos;
        for seg in self.sealed.iter().map(Segment::bytes).chain(std::iter::once(&self.open[..])) {
            if n == MAX_SLICES {
                break;
            }
            if seg.len() > skip {
                slices[n] = IoSlice::new(&seg[skip..]);
                n += 1;
            }
            skip = 0;
        }
        (slices, n)
    }

    /// The unwritten bytes when they are all in one buffer (the common case: no owned
    /// body is queued), for a plain write.
    #[inline]
    pub fn contiguous(&self) -> Option<&[u8]> {
        self.sealed.is_empty().then(|| &self.open[self.pos..])
    }

    /// Marks `n` more bytes written.
    pub fn advance(&mut self, mut n: usize) {
        self.pending -= n.min(self.pending);
        while let Some(first) = self.sealed.front() {
            let left = first.bytes().len() - self.pos;
            if n < left {
                self.pos += n;
                return;
            }
            n -= left;
            self.pos = 0;
            if let Some(Segment::Owned(done)) = self.sealed.pop_front() {
                crate::spare::give(done);
            }
        }
        self.pos = (self.pos + n).min(self.open.len());
        if self.pending == 0 {
            self.open.clear();
            self.pos = 0;
        }
    }

    /// Once everything is written, starts the buffer over (keeping its room).
    #[inline]
    fn reclaim(&mut self) {
        if self.pending == 0 {
            self.sealed.clear();
            self.open.clear();
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameDecoder;

    /// Drains `q` in writes of at most `chunk` bytes, as a socket might take them.
    fn drain(q: &mut OutQueue, chunk: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        while q.pending() > 0 {
            let (slices, n) = q.slices();
            let mut took = 0;
            for s in &slices[..n] {
                let want = (chunk - took).min(s.len());
                wire.extend_from_slice(&s[..want]);
                took += want;
                if took == chunk {
                    break;
                }
            }
            q.advance(took);
        }
        wire
    }

    fn frames(wire: &[u8]) -> Vec<Vec<u8>> {
        let mut dec = FrameDecoder::new(usize::MAX);
        dec.buffer_mut().extend_from_slice(wire);
        let mut out = Vec::new();
        while let Some(f) = dec.next_frame().unwrap() {
            out.push(f.to_vec());
        }
        assert_eq!(dec.buffered(), 0);
        out
    }

    #[test]
    fn frames_and_owned_bodies_come_out_in_order_whatever_the_write_sizes() {
        let big = vec![9u8; OWNED_BODY_MIN + 5];
        for chunk in [1, 3, 4096, OWNED_BODY_MIN, usize::MAX] {
            let mut q = OutQueue::with_capacity(16);
            q.frame(usize::MAX, |b| b.extend_from_slice(b"one")).unwrap();
            q.frame_with_body(usize::MAX, |b| b.push(1), big.clone(), &[]).unwrap();
            q.frame_with_body(usize::MAX, |b| b.push(2), vec![7; 10], &[]).unwrap();
            q.frame_with_body(usize::MAX, |b| b.push(3), big.clone(), &[4, 5]).unwrap();
            assert!(q.contiguous().is_none());
            let mut wire = drain(&mut q, chunk);
            // What comes after a drained queue starts over in the one buffer.
            q.frame(usize::MAX, |b| b.extend_from_slice(b"two")).unwrap();
            assert_eq!(q.contiguous().map(<[u8]>::len), Some(7));
            wire.extend(drain(&mut q, chunk));
            let mut with_head = vec![1u8];
            with_head.extend_from_slice(&big);
            let mut with_trailer = vec![3u8];
            with_trailer.extend_from_slice(&big);
            with_trailer.extend_from_slice(&[4, 5]);
            assert_eq!(
                frames(&wire),
                vec![b"one".to_vec(), with_head, vec![2, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7], with_trailer, b"two".to_vec()]
            );
            assert_eq!(q.pending(), 0);
        }
    }

    #[test]
    fn shared_bodies_go_out_in_order_and_are_let_go_once_written() {
        // The large body is the middle of a buffer, as an element kept in the request
        // frame it came in is.
        let bytes: Vec<u8> = (0..OWNED_BODY_MIN + 23).map(|i| (i % 251) as u8).collect();
        let frame = SharedBytes::from(bytes.clone());
        let stored = frame.part(&frame[10..frame.len() - 10]).unwrap();
        drop(frame);
        let small = SharedBytes::from(vec![5u8; 3]);
        for chunk in [1, 7, 4096, usize::MAX] {
            let mut q = OutQueue::default();
            q.frame_with_shared(usize::MAX, |b| b.push(1), stored.clone(), &[9]).unwrap();
            q.frame_with_shared(usize::MAX, |b| b.push(2), small.clone(), &[]).unwrap();
            q.frame_with_body(usize::MAX, |b| b.push(3), stored.to_vec(), &[]).unwrap();
            assert_eq!(stored.holders(), 2, "the large one is queued, not copied");
            assert_eq!(small.holders(), 1, "a small one is copied into the buffer");
            let wire = drain(&mut q, chunk);
            assert_eq!(stored.holders(), 1, "let go once written");
            let mut first = vec![1u8];
            first.extend_from_slice(&bytes[10..bytes.len() - 10]);
            first.push(9);
            let mut third = vec![3u8];
            third.extend_from_slice(&bytes[10..bytes.len() - 10]);
            assert_eq!(frames(&wire), vec![first, vec![2, 5, 5, 5], third]);
        }
        let mut q = OutQueue::default();
        let err = q.frame_with_shared(100, |b| b.push(1), stored.clone(), &[]).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
        assert_eq!((q.pending(), stored.holders()), (0, 1), "refused: nothing kept");
    }

    #[test]
    fn a_part_of_shared_bytes_is_found_only_inside_them() {
        let buf = SharedBytes::from((0..100u8).collect::<Vec<u8>>());
        let middle = buf.part(&buf[20..30]).unwrap();
        assert_eq!(&*middle, &(20..30u8).collect::<Vec<u8>>()[..]);
        // A part of a part, and the bounds of the part it is taken from.
        assert_eq!(&*middle.part(&middle[2..4]).unwrap(), &[22, 23]);
        assert!(middle.part(&buf[19..25]).is_none());
        assert!(middle.part(&buf[25..31]).is_none());
        assert!(buf.part(&[0u8; 10]).is_none());
        // A part is copied out when others hold the buffer; the whole, unshared, is not.
        assert_eq!(middle.clone().into_vec(), (20..30u8).collect::<Vec<u8>>());
        drop(middle);
        let ptr = buf.as_ptr();
        let whole = buf.into_vec();
        assert_eq!((whole.as_ptr(), whole.len()), (ptr, 100));
    }

    #[test]
    fn an_oversized_frame_is_refused_and_leaves_the_queue_as_it_was() {
        let mut q = OutQueue::default();
        q.frame(100, |b| b.push(5)).unwrap();
        let err = q.frame_with_body(100, |b| b.push(1), vec![0; OWNED_BODY_MIN], &[]).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
        assert!(q.frame(100, |b| b.extend_from_slice(&[0; 101])).is_err());
        assert_eq!(q.pending(), 5);
        assert_eq!(frames(&drain(&mut q, 2)), vec![vec![5]]);
    }
}
