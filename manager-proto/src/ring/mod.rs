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
//! above it; the memory accesses — the only `unsafe` — are in [`shared`].
//! [`spin`] decides how long a side polls before it sleeps.

mod shared;
pub mod spin;

pub use spin::AdaptiveSpin;

use shared::Region;

/// The segment's first 8 bytes.
pub const MAGIC: [u8; 8] = *b"MGRRING1";

/// Bytes of the segment's header, and of each ring's control block (which is followed
/// by its data): a page, so that the data starts page-aligned.
pub const HEADER_LEN: usize = 4096;

/// The smallest and largest capacity of one ring, in bytes.
pub const MIN_CAPACITY: usize = 4096;
/// See [`MIN_CAPACITY`].
pub const MAX_CAPACITY: usize = 64 << 20;

/// The default capacity of one ring: room for a 1 MiB value and its frame without a
/// wait, and for the replies to 64 calls in flight many times over.
pub const DEFAULT_CAPACITY: usize = 4 << 20;

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
        todo!()
    }

    /// The capacity of each ring.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The segment's length in bytes (a multiple of the page size).
    pub fn segment_len(&self) -> usize {
        todo!()
    }
}

/// One side's two rings: what it writes and what it reads.
#[derive(Debug)]
pub struct Ends {
    /// The ring this side writes.
    pub tx: Producer,
    /// The ring this side reads.
    pub rx: Consumer,
}

impl Ends {
    /// Writes a fresh segment's header (the server, once, before the client sees it).
    /// The rest of a new mapping is zero, which is two empty rings.
    ///
    /// # Safety
    ///
    /// As for [`Ends::new`].
    #[allow(unsafe_code)]
    pub unsafe fn init(base: *mut u8, len: usize, layout: Layout) -> Result<(), RingError> {
        todo!()
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
        todo!()
    }
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
        todo!()
    }

    /// Bytes of room now.
    pub fn space(&mut self) -> Result<usize, RingError> {
        todo!()
    }

    /// After a write: whether the reader sleeps and must be woken (its data bell rung).
    /// Takes the reader's flag, so it is rung once per sleep.
    pub fn take_reader_waiting(&self) -> bool {
        todo!()
    }

    /// Before sleeping for room: marks this writer as waiting, then looks again.
    /// `true`: still full, sleep (the reader rings the space bell when it reads);
    /// `false`: room came meanwhile, do not sleep (the mark is withdrawn).
    pub fn prepare_wait(&mut self) -> Result<bool, RingError> {
        todo!()
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
        todo!()
    }

    /// Bytes waiting to be read.
    pub fn available(&mut self) -> Result<usize, RingError> {
        todo!()
    }

    /// After a read: whether the writer sleeps waiting for room and must be woken (its
    /// space bell rung). Takes the writer's flag.
    pub fn take_writer_waiting(&self) -> bool {
        todo!()
    }

    /// Before sleeping for data: marks this reader as waiting, then looks again.
    /// `true`: still empty, sleep (the writer rings the data bell when it writes);
    /// `false`: data came meanwhile, do not sleep (the mark is withdrawn).
    pub fn prepare_wait(&mut self) -> Result<bool, RingError> {
        todo!()
    }

    /// Withdraws a mark left by [`Consumer::prepare_wait`] (woken by something else):
    /// spares the writer a needless ring of the bell.
    pub fn stop_waiting(&self) {
        todo!()
    }
}
