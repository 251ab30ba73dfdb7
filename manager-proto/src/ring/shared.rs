//! The segment's memory, read and written by this process and by the peer's at the same
//! time: the only `unsafe` of the rings — the header's bytes, each ring's control words
//! (as atomics) and its data (as copies), and, for tests and fuzzing, a zeroed heap
//! segment standing in for a mapping.
#![allow(unsafe_code)]
//!
//! # Invariants
//!
//! Established by the caller of [`super::Ends::init`] and [`super::Ends::new`] (their
//! `# Safety`), checked by those two before anything here is reached, and relied on:
//!
//! - `base..base + len` is readable and writable shared memory, page-aligned, mapped for
//!   as long as any [`Region`] made from it lives (a heap segment: the `Region` holds it
//!   alive itself, [`HeapSegment`]). `len` was checked to be exactly
//!   `HEADER_LEN + 2 * (HEADER_LEN + capacity)` for the header's capacity, a power of two
//!   within `MIN_CAPACITY..=MAX_CAPACITY`, so every offset formed here — the header's 16
//!   bytes, a control block's words at 0, 64, 128 and 192, and `data + (i mod
//!   capacity)` for copies of at most `capacity - (i mod capacity)` bytes, then from
//!   `data` — lies inside it. [`Region`] keeps that capacity privately and never re-reads
//!   the header (the peer may rewrite it).
//! - The control words are only ever accessed as atomics (`AtomicU64`/`AtomicU32` formed
//!   with `from_ptr` at 8-aligned offsets of a page-aligned block): the peer writes them
//!   concurrently, and every bit pattern is a valid integer. What the peer writes there is
//!   checked by the caller ([`super::Producer`], [`super::Consumer`]), never trusted as an
//!   offset: offsets are taken modulo the capacity here, whatever the index.
//! - The data is only touched with `ptr::copy_nonoverlapping` between the segment and
//!   this process's own buffers (a caller's `&[u8]`, a `Vec`'s spare capacity), never
//!   through a Rust reference into the segment: the peer may write any byte at any time,
//!   and a reference would let the compiler assume it does not. An honest peer never
//!   writes bytes that are being copied (the indices, published with release and read
//!   with acquire, hand each byte from writer to reader); a hostile one may, and the copy
//!   then yields some bytes — a torn mix — which the frame decoder above checks like
//!   socket bytes. As for the client's shared memory blocks, Rust's memory model does
//!   not describe another process's writes; a `memcpy` of memory another process changes
//!   is the accepted practice, and nothing here relies on two reads agreeing.
//! - One `Region` per ring per side: `Ends::new`'s caller promises that no other `Ends`
//!   of the same side exists, so this process's writes to a ring's data and its own index
//!   come from one place, serialized by `&mut` on the end that owns the `Region`.
//! - In-process tests and fuzzing: [`HeapSegment`] is a zeroed, page-aligned heap
//!   allocation of the segment's length, freed only when the last `Region` holding it
//!   drops; the `Ends` it hands out are the only ones of the segment.

#[cfg(any(test, feature = "fuzzing"))]
use super::{Ends, Layout, RingError, Side};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// Byte offsets in a ring's control block: each word on a cache line of its own, so the
/// writer's stores to `tail` do not invalidate the line the reader's `head` is on.
const TAIL: usize = 0;
/// See [`TAIL`].
const HEAD: usize = 64;
/// See [`TAIL`].
const READER_WAITING: usize = 128;
/// See [`TAIL`].
const WRITER_WAITING: usize = 192;

/// One ring's control block and data, in a mapped segment.
#[derive(Debug)]
pub(super) struct Region {
    /// The control block's first byte (page-aligned): the four words at [`TAIL`],
    /// [`HEAD`], [`READER_WAITING`] and [`WRITER_WAITING`].
    control: NonNull<u8>,
    /// The data's first byte, `HEADER_LEN` after `control`.
    data: NonNull<u8>,
    /// The data's length: the header's capacity as checked when the segment was opened,
    /// a power of two, never read again from the segment.
    capacity: usize,
    /// A heap segment's memory, kept alive by every region in it (a mapping is kept by
    /// the caller of `Ends::new` instead).
    #[cfg(any(test, feature = "fuzzing"))]
    keep: Option<std::sync::Arc<HeapSegment>>,
}

// SAFETY: a `Region` is raw pointers into shared memory that any thread may access (it is
// mapped for the whole process); its accesses are atomics and copies, sound from any
// thread, and its owner (one `Producer` or `Consumer`) serializes them with `&mut`.
unsafe impl Send for Region {}

/// Writes a fresh segment's header — [`super::MAGIC`], then `capacity` as a u64 LE, then
/// zeros — and zeroes both rings' control blocks (two empty rings). The data is left as
/// it is: no byte of it is read before it is written.
///
/// # Safety
///
/// `base` is a segment as in the invariants above, of the length `capacity` gives, that
/// no `Region` uses yet.
pub(super) unsafe fn write_header(base: NonNull<u8>, capacity: usize) {
    let base = base.as_ptr();
    // SAFETY: the header and the two control blocks are within the segment (its length
    // was checked against `capacity`), and nothing else accesses them yet.
    unsafe {
        ptr::write_bytes(base, 0, super::HEADER_LEN);
        ptr::copy_nonoverlapping(super::MAGIC.as_ptr(), base, 8);
        ptr::copy_nonoverlapping((capacity as u64).to_le_bytes().as_ptr(), base.add(8), 8);
        for ring in 0..2 {
            ptr::write_bytes(base.add(ring_offset(ring, capacity)), 0, super::HEADER_LEN);
        }
    }
}

/// The header's magic and capacity, copied out (the peer may be writing them).
///
/// # Safety
///
/// `base` is readable memory of at least 16 bytes (the caller checked `len >= HEADER_LEN`).
pub(super) unsafe fn read_header(base: NonNull<u8>) -> ([u8; 8], u64) {
    let mut bytes = [0u8; 16];
    // SAFETY: 16 bytes within the segment, copied into a local array.
    unsafe { ptr::copy_nonoverlapping(base.as_ptr(), bytes.as_mut_ptr(), 16) };
    let (magic, capacity) = bytes.split_at(8);
    let magic: [u8; 8] = magic.try_into().unwrap_or_default();
    let capacity: [u8; 8] = capacity.try_into().unwrap_or_default();
    (magic, u64::from_le_bytes(capacity))
}

/// Where ring `ring` (0 or 1) starts: after the header and the rings before it.
fn ring_offset(ring: usize, capacity: usize) -> usize {
    super::HEADER_LEN + ring * (super::HEADER_LEN + capacity)
}

impl Region {
    /// Rings 0 and 1 of the segment at `base`.
    ///
    /// # Safety
    ///
    /// `base` is a segment as in the invariants above, of the length `capacity` gives;
    /// the regions must not outlive its mapping.
    pub(super) unsafe fn pair(base: NonNull<u8>, capacity: usize) -> [Region; 2] {
        [0, 1].map(|ring| {
            // SAFETY: both offsets lie within the segment (its length was checked).
            let control = unsafe { base.add(ring_offset(ring, capacity)) };
            // SAFETY: as above: the data follows its control block inside the segment.
            let data = unsafe { control.add(super::HEADER_LEN) };
            Region {
                control,
                data,
                capacity,
                #[cfg(any(test, feature = "fuzzing"))]
                keep: None,
            }
        })
    }

    /// The data's length in bytes.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The 64-bit control word at `offset` ([`TAIL`] or [`HEAD`]).
    fn word64(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: `offset` is 0 or 64, within the control block and 8-aligned (the
        // block is page-aligned); the block stays mapped while `self` lives and is only
        // accessed as atomics (invariants above).
        unsafe { AtomicU64::from_ptr(self.control.as_ptr().add(offset).cast::<u64>()) }
    }

    /// The 32-bit control word at `offset` ([`READER_WAITING`] or [`WRITER_WAITING`]).
    fn word32(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: as in `word64`: 128 or 192, 4-aligned, atomics only.
        unsafe { AtomicU32::from_ptr(self.control.as_ptr().add(offset).cast::<u32>()) }
    }

    /// Bytes ever written, as the writer published them.
    pub(super) fn tail(&self) -> &AtomicU64 {
        self.word64(TAIL)
    }

    /// Bytes ever read, as the reader published them.
    pub(super) fn head(&self) -> &AtomicU64 {
        self.word64(HEAD)
    }

    /// Non-zero while the reader sleeps (or is about to) waiting for data.
    pub(super) fn reader_waiting(&self) -> &AtomicU32 {
        self.word32(READER_WAITING)
    }

    /// Non-zero while the writer sleeps (or is about to) waiting for room.
    pub(super) fn writer_waiting(&self) -> &AtomicU32 {
        self.word32(WRITER_WAITING)
    }

    /// Copies `src` (at most `capacity` bytes of it) into the data from index `at`
    /// (modulo the capacity), wrapping around to the start.
    pub(super) fn copy_in(&self, at: u64, src: &[u8]) {
        let src = &src[..src.len().min(self.capacity)];
        let start = self.offset(at);
        let first = src.len().min(self.capacity - start);
        // SAFETY: `start + first <= capacity` and `src.len() - first <= start`, so both
        // copies stay inside the data; `src` is this process's memory, not the segment's
        // (a `&[u8]` into the segment is never formed), so they do not overlap.
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), self.data.as_ptr().add(start), first);
            ptr::copy_nonoverlapping(src.as_ptr().add(first), self.data.as_ptr(), src.len() - first);
        }
    }

    /// Appends `n` bytes (at most `capacity`) of the data from index `at` (modulo the
    /// capacity, wrapping around) to `buf`.
    pub(super) fn copy_out(&self, at: u64, n: usize, buf: &mut Vec<u8>) {
        let n = n.min(self.capacity);
        let start = self.offset(at);
        let first = n.min(self.capacity - start);
        buf.reserve(n);
        let len = buf.len();
        // SAFETY: the source ranges are inside the data as in `copy_in`; the destination
        // is `buf`'s spare capacity, which `reserve` made at least `n` bytes, and which
        // the `n` bytes copied initialise before `set_len` counts them.
        unsafe {
            let dst = buf.as_mut_ptr().add(len);
            ptr::copy_nonoverlapping(self.data.as_ptr().add(start), dst, first);
            ptr::copy_nonoverlapping(self.data.as_ptr(), dst.add(first), n - first);
            buf.set_len(len + n);
        }
    }

    /// Index `at`'s offset in the data.
    fn offset(&self, at: u64) -> usize {
        // The capacity is a power of two and fits in a usize, so the result is below it.
        (at & (self.capacity as u64 - 1)) as usize
    }
}

/// A zeroed, page-aligned heap allocation standing in for a mapped segment, for tests
/// and fuzzing (which do no I/O): the regions made from it keep it alive.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Debug)]
pub struct HeapSegment {
    /// The allocation's first byte.
    ptr: NonNull<u8>,
    /// Its size and alignment (a page).
    layout: std::alloc::Layout,
}

// SAFETY: plain heap memory; once shared (`Arc`), it is only accessed through regions,
// as atomics and copies (the invariants above).
#[cfg(any(test, feature = "fuzzing"))]
unsafe impl Send for HeapSegment {}
// SAFETY: as for `Send`: `&HeapSegment` gives no access to the memory.
#[cfg(any(test, feature = "fuzzing"))]
unsafe impl Sync for HeapSegment {}

#[cfg(any(test, feature = "fuzzing"))]
impl HeapSegment {
    /// `len` zeroed bytes (at least one), page-aligned.
    pub fn zeroed(len: usize) -> HeapSegment {
        let Ok(layout) = std::alloc::Layout::from_size_align(len.max(1), super::HEADER_LEN) else {
            panic!("a heap segment of {len} bytes is too large");
        };
        // SAFETY: the layout's size is not zero.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(ptr) else { std::alloc::handle_alloc_error(layout) };
        HeapSegment { ptr, layout }
    }

    /// Overwrites bytes from `offset` (a forged header, say), within the allocation.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        let end = offset.checked_add(bytes.len());
        assert!(end.is_some_and(|end| end <= self.layout.size()), "a write past the heap segment");
        // SAFETY: in bounds (checked); `&mut self` means no region uses the memory yet
        // (regions hold it through an `Arc`, which `ends` consumes `self` to make).
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr().add(offset), bytes.len()) };
    }

    /// [`Ends::init`] on this memory.
    pub fn init(&mut self, layout: Layout) -> Result<(), RingError> {
        // SAFETY: the allocation is readable, writable and page-aligned, with
        // `layout.size()` bytes, and no `Ends` of it exists yet (`&mut self`).
        unsafe { Ends::init(self.ptr.as_ptr(), self.layout.size(), layout) }
    }

    /// Both sides' [`Ends::new`] on this memory, each ring holding it alive.
    pub fn ends(self) -> Result<(Ends, Ends), RingError> {
        let (base, len) = (self.ptr.as_ptr(), self.layout.size());
        let keep = std::sync::Arc::new(self);
        // SAFETY: the memory is readable, writable, page-aligned and `len` bytes long;
        // every region made here holds it alive (below); these are the only `Ends` of it.
        let (mut client, mut server) =
            unsafe { (Ends::new(base, len, Side::Client)?, Ends::new(base, len, Side::Server)?) };
        for ends in [&mut client, &mut server] {
            ends.tx.ring.keep = Some(keep.clone());
            ends.rx.ring.keep = Some(keep.clone());
        }
        Ok((client, server))
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl Drop for HeapSegment {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout; dropped once, when the last
        // region holding it (or its owner, before `ends`) is gone.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}
