//! Shared-memory rings: the bytes of one connection, client and server on the same
//! host, through two single-producer single-consumer byte rings in one memory segment
//! instead of the socket (the `shared-memory` transport). The bytes are the same frames
//! the socket would carry, so everything above (multiplexing, cancel, limits) is
//! unchanged; the socket stays open beside the rings as the liveness channel.
//!
//! ```text
//! segment: [ header | ring 0: client → server | ring 1: server → client ]
//! ring:    [ control: tail | head | reader waits | writer waits (a cache line each) | data (capacity bytes) ]
//! ```
//!
//! Each ring's writer owns `tail` (bytes ever written), its reader owns `head` (bytes
//! ever read); both only grow. A side keeps its own index privately and only
//! *publishes* it to the segment, and checks every index it reads from the peer: a
//! hostile or broken peer can write anything into the segment, and the worst it can do
//! is end its own connection ([`RingError::Corrupt`]) or feed garbage bytes to the
//! frame decoder, which refuses them as from a socket.
//!
//! Waking a sleeping peer (the bells, eventfds outside this module) follows the usual
//! store-fence-check on both sides: a side about to sleep sets its flag, fences, and
//! looks again ([`Consumer::prepare_wait`], [`Producer::prepare_wait`]); a side that
//! just published fences and takes the peer's flag ([`Producer::take_reader_waiting`],
//! [`Consumer::take_writer_waiting`]). One of the two always sees the other, so no
//! wake-up is lost.
//!
//! This module does no I/O: the segment is mapped (and the bells rung) by the crates
//! above it; the memory accesses — the only `unsafe` — are in `shared.rs`.
//! [`spin`] decides how long a side polls before it sleeps.

mod shared;
pub mod spin;
#[cfg(any(test, feature = "fuzzing"))]
mod testbed;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub use shared::HeapSegment;
pub use spin::{AdaptiveSpin, Pace};
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub use testbed::{Testbed, Word};

use shared::Region;
use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

/// The segment's first 8 bytes.
pub const MAGIC: [u8; 8] = *b"MGRRING1";

/// Bytes of the segment's header, and of each ring's control block (which is followed
/// by its data): a page, so that the data starts page-aligned.
pub const HEADER_LEN: usize = 4096;

/// The smallest and largest capacity of one ring, in bytes.
pub const MIN_CAPACITY: usize = 4096;
/// See [`MIN_CAPACITY`].
pub const MAX_CAPACITY: usize = 64 << 20;

/// The default capacity of one ring: room for the replies to 64 calls in flight many
/// times over, while a connection's two rings cost at most 2 MiB of memory (pages are
/// touched as the rings go round). Larger frames cross in pieces, as through a socket.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// Which end of the connection a side is: the client writes ring 0 and reads ring 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The connecting side.
    Client,
    /// The accepting side, which made the segment.
    Server,
}

/// A segment that is not (or no longer) two good rings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The segment's size or header does not describe rings of this version.
    #[error("not a shared-memory ring segment: {0}")]
    BadSegment(String),
    /// The peer wrote an index no honest peer writes; the connection must end.
    #[error("the peer corrupted the shared-memory ring: {0}")]
    Corrupt(&'static str),
}

/// The shape of a segment: the capacity of each of its two rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    capacity: usize,
}

impl Layout {
    /// Rings of `capacity` bytes each: a power of two within
    /// [`MIN_CAPACITY`]..=[`MAX_CAPACITY`].
    pub fn new(capacity: usize) -> Result<Layout, RingError> {
        if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(RingError::BadSegment(format!(
                "rings of {capacity} bytes: a ring's capacity must be a power of two from {MIN_CAPACITY} bytes \
                 to {MAX_CAPACITY} bytes (64 MiB)"
            )));
        }
        Ok(Layout { capacity })
    }

    /// The capacity of each ring.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The segment's length in bytes (a multiple of the page size).
    pub fn segment_len(&self) -> usize {
        HEADER_LEN + 2 * (HEADER_LEN + self.capacity)
    }
}

/// One side's two rings: what it writes and what it reads.
///
/// ```
/// use manager_proto::ring::{Ends, Layout, Side};
///
/// // The server makes a segment: a memfd mapped `MAP_SHARED` by both processes; here,
/// // zeroed page-aligned heap memory stands in for it.
/// let layout = Layout::new(4096)?;
/// let len = layout.segment_len();
/// let memory = std::alloc::Layout::from_size_align(len, 4096).unwrap();
/// let base = unsafe { std::alloc::alloc_zeroed(memory) };
/// assert!(!base.is_null());
/// // SAFETY: `len` page-aligned bytes, kept until the ends are dropped; one `Ends` a side.
/// let (mut server, mut client) = unsafe {
///     Ends::init(base, len, layout)?;
///     (Ends::new(base, len, Side::Server)?, Ends::new(base, len, Side::Client)?)
/// };
///
/// // The server finds nothing to read and is about to sleep on its data bell...
/// assert!(server.rx.prepare_wait()?);
/// // ...the client writes, sees the sleeper, and would ring the bell.
/// assert_eq!(client.tx.write(b"hello")?, 5);
/// assert!(client.tx.take_reader_waiting());
/// let mut buf = Vec::new();
/// assert_eq!(server.rx.read_into(&mut buf, 1024)?, 5);
/// assert_eq!(buf, b"hello");
///
/// drop((server, client));
/// unsafe { std::alloc::dealloc(base, memory) };
/// # Ok::<(), manager_proto::ring::RingError>(())
/// ```
#[derive(Debug)]
pub struct Ends {
    /// The ring this side writes.
    pub tx: Producer,
    /// The ring this side reads.
    pub rx: Consumer,
}

impl Ends {
    /// Writes a fresh segment's header (the server, once, before the client sees it).
    /// The rest of a new mapping is zero, which is two empty rings. (It zeroes the
    /// header's rest and both control blocks too, so a reused mapping starts as two empty
    /// rings; the data need not be zero: no byte of it is read before it is written.)
    ///
    /// # Safety
    ///
    /// As for [`Ends::new`].
    #[allow(unsafe_code)]
    pub unsafe fn init(base: *mut u8, len: usize, layout: Layout) -> Result<(), RingError> {
        let base = check_mapping(base, len)?;
        if len != layout.segment_len() {
            return Err(RingError::BadSegment(format!(
                "a mapping of {len} bytes for rings of {} bytes, which need {}",
                layout.capacity,
                layout.segment_len()
            )));
        }
        // SAFETY: the caller's promise (the mapping), and the length just checked.
        unsafe { shared::write_header(base, layout.capacity) };
        Ok(())
    }

    /// `side`'s ends of the rings in the segment at `base`, after checking its length
    /// and header.
    ///
    /// # Safety
    ///
    /// `base..base + len` must be a mapping of shared memory, readable and writable,
    /// page-aligned, that stays mapped for as long as the result lives; and no other
    /// `Ends` for the same `side` of this segment may exist in this process. The peer
    /// may write anything into the segment at any time: that is not unsafe, only a
    /// corrupt ring.
    #[allow(unsafe_code)]
    pub unsafe fn new(base: *mut u8, len: usize, side: Side) -> Result<Ends, RingError> {
        let base = check_mapping(base, len)?;
        // SAFETY: the caller's promise (the mapping), and `len >= HEADER_LEN` (checked).
        let (magic, capacity) = unsafe { shared::read_header(base) };
        let layout = check_header(len, magic, capacity)?;
        // SAFETY: the caller's promise, and the length checked against the capacity.
        let [ring0, ring1] = unsafe { Region::pair(base, layout.capacity) };
        let (tx, rx) = match side {
            Side::Client => (ring0, ring1),
            Side::Server => (ring1, ring0),
        };
        // Both indices start at zero, the empty ring a fresh segment is: what the peer
        // published before this (the server may write first) is read and checked as
        // any later index is.
        Ok(Ends { tx: Producer { ring: tx, tail: 0, head: 0 }, rx: Consumer { ring: rx, head: 0, tail: 0 } })
    }
}

/// The checks of a mapping before its header is read: a page-aligned start and room for
/// the header.
fn check_mapping(base: *mut u8, len: usize) -> Result<NonNull<u8>, RingError> {
    let Some(base) = NonNull::new(base).filter(|b| b.as_ptr().addr() % HEADER_LEN == 0) else {
        return Err(RingError::BadSegment(format!("a mapping at {base:p} is not page-aligned ({HEADER_LEN} bytes)")));
    };
    if len < HEADER_LEN {
        return Err(RingError::BadSegment(format!(
            "a segment of {len} bytes is shorter than its header ({HEADER_LEN} bytes)"
        )));
    }
    Ok(base)
}

/// The layout a segment's header describes, if it is this version's and `len` is its length.
fn check_header(len: usize, magic: [u8; 8], capacity: u64) -> Result<Layout, RingError> {
    if magic != MAGIC {
        return Err(RingError::BadSegment(format!(
            "it starts with \"{}\", not \"{}\" (another program's memory, or rings of another version)",
            magic.escape_ascii(),
            MAGIC.escape_ascii()
        )));
    }
    let layout = usize::try_from(capacity).ok().and_then(|c| Layout::new(c).ok()).ok_or_else(|| {
        RingError::BadSegment(format!(
            "its header gives rings of {capacity} bytes, not a power of two from {MIN_CAPACITY} to {MAX_CAPACITY}"
        ))
    })?;
    if len != layout.segment_len() {
        return Err(RingError::BadSegment(format!(
            "a segment of {len} bytes, but its header's rings of {capacity} bytes need {}",
            layout.segment_len()
        )));
    }
    Ok(layout)
}

/// The writing end of one ring.
#[derive(Debug)]
pub struct Producer {
    ring: Region,
    /// Bytes ever written (the source of truth; the segment holds a copy).
    tail: u64,
    /// The reader's `head` as last read, checked.
    head: u64,
}

impl Producer {
    /// Copies as much of `src` as fits and publishes it; returns how much (0: full).
    pub fn write(&mut self, src: &[u8]) -> Result<usize, RingError> {
        // The room known from the reader's last index, if it is enough, spares a read of
        // the reader's cache line per message (what it freed since only adds room; a
        // corrupt index is then caught at the next look).
        let known = self.ring.capacity() - self.tail.wrapping_sub(self.head) as usize;
        let room = if known >= src.len() { known } else { self.space()? };
        let n = src.len().min(room);
        if n == 0 {
            return Ok(0);
        }
        self.ring.copy_in(self.tail, &src[..n]);
        self.tail = self.tail.wrapping_add(n as u64);
        // Release: the bytes just copied are visible to a reader that sees this tail.
        self.ring.tail().store(self.tail, Ordering::Release);
        Ok(n)
    }

    /// Copies what fits of `slices`, in order, stopping at the first that does not fit
    /// whole; returns how much (0: full).
    pub fn write_slices(&mut self, slices: &[impl std::ops::Deref<Target = [u8]>]) -> Result<usize, RingError> {
        let mut total = 0;
        for s in slices {
            let s: &[u8] = s;
            let n = self.write(s)?;
            total += n;
            if n < s.len() {
                break;
            }
        }
        Ok(total)
    }

    /// Bytes of room now.
    pub fn space(&mut self) -> Result<usize, RingError> {
        // Acquire: the reader's copies out of the bytes it frees happen before this
        // writer overwrites them.
        let head = self.ring.head().load(Ordering::Acquire);
        // The reader may only have read more, and no more than was written: in wrapping
        // arithmetic, what it freed since last time is at most what was unread then.
        if head.wrapping_sub(self.head) > self.tail.wrapping_sub(self.head) {
            return Err(RingError::Corrupt("the reader's index (head) went backwards or past the bytes written"));
        }
        self.head = head;
        Ok(self.ring.capacity() - self.tail.wrapping_sub(head) as usize)
    }

    /// After a write: whether the reader sleeps and must be woken (its data bell rung).
    /// Takes the reader's flag, so it is rung once per sleep.
    pub fn take_reader_waiting(&self) -> bool {
        // Orders the tail just published before the flag's load, against the reader's
        // flag store before its fence and its tail load (`Consumer::prepare_wait`).
        fence(Ordering::SeqCst);
        let flag = self.ring.reader_waiting();
        flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::Relaxed) != 0
    }

    /// Before sleeping for room: marks this writer as waiting, then looks again.
    /// `true`: still full, sleep (the reader rings the space bell when it reads);
    /// `false`: room came meanwhile, do not sleep (the mark is withdrawn).
    pub fn prepare_wait(&mut self) -> Result<bool, RingError> {
        let flag = self.ring.writer_waiting();
        flag.store(1, Ordering::Relaxed);
        // Pairs with the fence in `Consumer::take_writer_waiting`: either the reader sees
        // the mark, or this looks again after its head was published.
        fence(Ordering::SeqCst);
        match self.space() {
            Ok(0) => Ok(true),
            other => {
                self.ring.writer_waiting().store(0, Ordering::Relaxed);
                other.map(|_| false)
            }
        }
    }
}

/// The reading end of one ring.
#[derive(Debug)]
pub struct Consumer {
    ring: Region,
    /// Bytes ever read (the source of truth; the segment holds a copy).
    head: u64,
    /// The writer's `tail` as last read, checked.
    tail: u64,
}

impl Consumer {
    /// Appends up to `max` available bytes to `buf` and publishes the room they leave;
    /// returns how many (0: empty).
    pub fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<usize, RingError> {
        let n = self.available()?.min(max);
        if n == 0 {
            return Ok(0);
        }
        self.ring.copy_out(self.head, n, buf);
        self.head = self.head.wrapping_add(n as u64);
        // Release: the copies out are done before the writer, seeing this head, reuses
        // the room.
        self.ring.head().store(self.head, Ordering::Release);
        Ok(n)
    }

    /// Bytes waiting to be read.
    pub fn available(&mut self) -> Result<usize, RingError> {
        // Acquire: the writer's copies in happen before this reader copies them out.
        let tail = self.ring.tail().load(Ordering::Acquire);
        // The writer may only have written more, and never more than the room it had:
        // what is unread now is at least what was last seen, and at most the capacity.
        let unread = tail.wrapping_sub(self.head);
        if unread < self.tail.wrapping_sub(self.head) || unread > self.ring.capacity() as u64 {
            return Err(RingError::Corrupt(
                "the writer's index (tail) went backwards or more than the ring's capacity ahead of the reader's",
            ));
        }
        self.tail = tail;
        Ok(unread as usize)
    }

    /// After a read: whether the writer sleeps waiting for room and must be woken (its
    /// space bell rung). Takes the writer's flag.
    pub fn take_writer_waiting(&self) -> bool {
        // As in `Producer::take_reader_waiting`, with the roles swapped.
        fence(Ordering::SeqCst);
        let flag = self.ring.writer_waiting();
        flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::Relaxed) != 0
    }

    /// Before sleeping for data: marks this reader as waiting, then looks again.
    /// `true`: still empty, sleep (the writer rings the data bell when it writes);
    /// `false`: data came meanwhile, do not sleep (the mark is withdrawn).
    pub fn prepare_wait(&mut self) -> Result<bool, RingError> {
        self.ring.reader_waiting().store(1, Ordering::Relaxed);
        // Pairs with the fence in `Producer::take_reader_waiting`: either the writer sees
        // the mark, or this looks again after its tail was published.
        fence(Ordering::SeqCst);
        match self.available() {
            Ok(0) => Ok(true),
            other => {
                self.stop_waiting();
                other.map(|_| false)
            }
        }
    }

    /// Withdraws a mark left by [`Consumer::prepare_wait`] (woken by something else):
    /// spares the writer a needless ring of the bell.
    pub fn stop_waiting(&self) {
        self.ring.reader_waiting().store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
