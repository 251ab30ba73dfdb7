//! The one place shared memory is touched through raw pointers: a mapping of a block
//! (`mmap`/`munmap`), the copies in and out of it, the atomics in it, and the
//! [`SharedMemory`] type with its two `unsafe` in-place views.
#![allow(unsafe_code)]
//!
//! # Invariants
//!
//! - A [`Region`] is a `MAP_SHARED`, read-write mapping of exactly `len` bytes
//!   (`len > 0`), made here from a descriptor whose file is at least `len` bytes long
//!   (the caller checked it with `fstat`). The file cannot shrink afterwards: the
//!   server seals every block's memfd against shrinking and growing (`F_SEAL_SHRINK`,
//!   `F_SEAL_GROW`, `F_SEAL_SEAL`) before anyone can open it, so no process — a hostile
//!   one with the key included — can make an access past the file's end fault with
//!   `SIGBUS`. It stays
//!   mapped until the `Region` drops, and `ptr..ptr+len` is never handed out past
//!   that: every view holds an `Arc<Region>`.
//! - Every access here is bounds-checked against `len` with checked arithmetic before
//!   any pointer is formed; a failed check returns `false`/`None`, never touches memory.
//! - Other processes may write the block at any time. The safe copies use
//!   `ptr::copy_nonoverlapping` between the mapping and the caller's buffer, never a
//!   Rust reference to the mapping's bytes: no `&[u8]` into memory another process
//!   changes is ever created by safe code (that would let the compiler assume the bytes
//!   stay put). A copy racing another process's write may see a mix of old and new
//!   bytes (torn), which for plain bytes and `Pod` types is still a valid value.
//!   Formally, Rust's memory model has no notion of another process writing; the
//!   accepted practice (and what the kernel and libc guarantee) is that a `memcpy` of
//!   memory changed concurrently by someone the compiler cannot see yields some bytes,
//!   not undefined behaviour at the language level, as long as the code never relies on
//!   two reads agreeing. Callers who need consistent values use the atomics below
//!   (`ShareableList`'s seqlock) or their own protocol.
//! - [`Region::atomic_u32`] and [`Region::atomic_bytes`] hand out `&AtomicU32`/
//!   `&[AtomicU8]` into the mapping: atomics may be changed concurrently by definition,
//!   are valid for every bit pattern, and lock-free atomics on a shared mapping are the
//!   standard inter-process synchronisation (futexes, seqlocks). They are only formed for
//!   in-bounds, suitably aligned offsets.
//! - A [`RingMapping`] holds the client's `manager_proto::ring::Ends` of a connection's
//!   rings and the `Region` they point into, declared after them so that the ends drop
//!   first: the pointers they hold never outlive the mapping. The segment is a memfd
//!   the server sealed at its size before sending it (the handshake checks the seals
//!   and the size before mapping), so the accesses the ends make cannot fault either.
//!   The ends are reached only through `&RingMapping`, never moved out.

use manager_proto::ObjectId;
use manager_proto::ring::{Consumer, Ends, Producer, RingError, Side};
use rustix::fd::BorrowedFd;
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A mapping of a shared memory block.
#[derive(Debug)]
pub(crate) struct Region {
    /// The mapping's start (page-aligned).
    ptr: NonNull<u8>,
    /// The mapping's length in bytes, never 0.
    len: usize,
}

// SAFETY: the mapping is plain memory, reachable from any thread; every access goes
// through the checked copies and atomics above, which are sound from any thread.
unsafe impl Send for Region {}
// SAFETY: as for `Send`: `&Region` only gives copies and atomics.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` bytes of `fd` (a file at least that long) read-write and shared;
    /// `populate` pre-faults every page (`MAP_POPULATE`).
    pub(crate) fn map(fd: BorrowedFd<'_>, len: usize, populate: bool) -> std::io::Result<Region> {
        if len == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a block of 0 bytes"));
        }
        let flags = if populate { MapFlags::SHARED | MapFlags::POPULATE } else { MapFlags::SHARED };
        // SAFETY: a new mapping at an address the kernel chooses (null hint): it aliases
        // no Rust object. The caller checked that the file has `len` bytes.
        let ptr = unsafe { mmap(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, flags, fd, 0) }?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Region { ptr, len })
    }

    /// The mapping's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The mapping's first byte (page-aligned), for alignment checks and for the
    /// `unsafe` slices below.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Whether `offset..offset+len` lies inside the mapping.
    fn fits(&self, offset: usize, len: usize) -> bool {
        offset.checked_add(len).is_some_and(|end| end <= self.len)
    }

    /// Copies `out.len()` bytes from `offset` into `out`; `false` (nothing read) if they
    /// are not all inside.
    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) -> bool {
        if !self.fits(offset, out.len()) {
            return false;
        }
        // SAFETY: in bounds (checked above) of a live mapping; `out` is the caller's own
        // memory, which the mapping cannot overlap (it was never handed out as a
        // reference).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(offset), out.as_mut_ptr(), out.len()) };
        true
    }

    /// Copies `data` to `offset`; `false` (nothing written) if it does not all fit.
    pub(crate) fn write(&self, offset: usize, data: &[u8]) -> bool {
        if !self.fits(offset, data.len()) {
            return false;
        }
        // SAFETY: as in `read`, in the other direction.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(offset), data.len()) };
        true
    }

    /// The `u32` at `offset` as an atomic, if in bounds and 4-aligned.
    pub(crate) fn atomic_u32(&self, offset: usize) -> Option<&AtomicU32> {
        if !self.fits(offset, 4) || !offset.is_multiple_of(4) {
            return None;
        }
        // SAFETY: in bounds, aligned (the mapping is page-aligned), valid for any bits,
        // and lives as long as `&self`.
        Some(unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(offset).cast::<u32>()) })
    }

    /// `len` bytes at `offset` as atomics, if in bounds.
    pub(crate) fn atomic_bytes(&self, offset: usize, len: usize) -> Option<&[AtomicU8]> {
        if !self.fits(offset, len) {
            return None;
        }
        // SAFETY: in bounds; `AtomicU8` has `u8`'s size and alignment and is valid for
        // any bits; lives as long as `&self`.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset).cast::<AtomicU8>(), len) })
    }

    /// The whole mapping as bytes.
    ///
    /// # Safety
    /// No process (this one included) may write the block while the slice lives.
    pub(crate) unsafe fn bytes(&self) -> &[u8] {
        // SAFETY: in bounds of a live mapping; the caller keeps writers away.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The whole mapping as mutable bytes.
    ///
    /// # Safety
    /// No other process may read or write the block, and no other slice of it may
    /// exist in this one, while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut(&self) -> &mut [u8] {
        // SAFETY: in bounds of a live mapping; the caller guarantees exclusivity.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

/// A shared memory block mapped into this process: made by
/// [`SharedMemoryProxy::map`](super::SharedMemoryProxy::map). Clones share the mapping,
/// which lasts while any clone, [`SharedSlice`](super::SharedSlice) or
/// [`ShareableList`](super::ShareableList) made from it lives.
///
/// The mapping holds no reference on the server beyond its proxy's: if every proxy of
/// the block is dropped (in every process), the server closes its descriptor, but a
/// mapping made before stays valid memory — still shared with the other processes that
/// mapped it — until it is dropped; only new `map` calls fail (the block is gone).
///
/// Reads and writes copy between the block and your buffers and are bounds-checked.
/// Other processes may write the block at the same time: a copy racing a write may see
/// some old and some new bytes (it is torn, never undefined behaviour: no Rust reference
/// into the block is made). Coordinate with a lock, an event or a queue when values
/// must be consistent, or use a [`ShareableList`](super::ShareableList).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = manager_server::Server::builder().start().await?;
/// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
/// let block = client.shared_memory(4096).await?; // a block on the server's host
/// let memory = block.map().await?;               // mapped here (another process: the same)
/// memory.write(0, b"hello")?;
/// let mut out = [0u8; 5];
/// memory.read(0, &mut out)?;
/// assert_eq!(&out, b"hello");
/// assert!(memory.write(4094, b"abc").is_err()); // past the end: an error, nothing written
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SharedMemory {
    /// The mapping, shared with every view.
    pub(crate) region: Arc<Region>,
    /// The block's object id, for messages.
    pub(crate) object: ObjectId,
}

impl SharedMemory {
    pub(crate) fn new(region: Region, object: ObjectId) -> SharedMemory {
        SharedMemory { region: Arc::new(region), object }
    }

    /// The block's bytes in place, without a copy.
    ///
    /// # Safety
    /// While the slice lives, no process — this one included, through any mapping or
    /// view of the block — may write the block: Rust assumes a `&[u8]`'s bytes do not
    /// change. (Writes by others make its contents unpredictable and break that
    /// assumption: undefined behaviour.) Typically: all writers are done, as a barrier,
    /// an event or a join told you.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the caller keeps writers away for the slice's lifetime.
        unsafe { self.region.bytes() }
    }

    /// The block's bytes in place, mutable, without a copy.
    ///
    /// # Safety
    /// While the slice lives, no other process may read or write the block, and no
    /// other slice or view of it may be used in this one.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [u8] {
        // SAFETY: the caller guarantees exclusive access for the slice's lifetime.
        unsafe { self.region.bytes_mut() }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping this `Region` made; nothing borrows it any more (views
        // hold the `Region` alive). A failure leaves it mapped: a leak, not unsoundness.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The client's ends of a connection's rings (`rings.rs`), with the mapping they live in.
#[derive(Debug)]
pub(crate) struct RingMapping {
    tx: Mutex<Producer>,
    rx: Mutex<Consumer>,
    /// Declared last: dropped after the ends (never read: it only keeps the mapping).
    #[allow(dead_code)]
    region: Region,
}

impl RingMapping {
    /// The client's ends of the ring segment mapped as `region`, after checking its
    /// length and header.
    pub(crate) fn new(region: Region) -> Result<RingMapping, RingError> {
        // SAFETY: `region` is a shared, read-write, page-aligned mapping of `len` bytes of
        // a sealed memfd (see the invariants), kept by the result and unmapped only after
        // the ends are gone; these are the only client ends of it in this process.
        let ends = unsafe { Ends::new(region.ptr.as_ptr(), region.len, Side::Client) }?;
        Ok(RingMapping { tx: Mutex::new(ends.tx), rx: Mutex::new(ends.rx), region })
    }

    /// The ring the client writes.
    pub(crate) fn tx(&self) -> MutexGuard<'_, Producer> {
        self.tx.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ring the client reads.
    pub(crate) fn rx(&self) -> MutexGuard<'_, Consumer> {
        self.rx.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
