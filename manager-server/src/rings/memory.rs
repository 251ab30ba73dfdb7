//! The server's mapping of a connection's ring segment: the only `unsafe` of its
//! shared-memory transport.
//!
//! # Invariants
//!
//! - A [`Segment`] is a `MAP_SHARED`, read-write mapping of exactly `len` bytes of a
//!   memfd this server made, sized to `len` and sealed against shrinking and growing
//!   before any other process could open it (`rings/mod.rs`), so no access inside the
//!   mapping can fault with `SIGBUS`, whatever the client does. It is unmapped when the
//!   `Segment` drops, and nothing else unmaps it.
//! - [`MappedEnds`] holds the server's [`Ends`] of the rings and the `Segment` they point
//!   into, declared after them, so the ends drop first: the pointers the ends hold never
//!   outlive the mapping. The fields are private; the ends are reached only through
//!   `&MappedEnds`, never moved out.
//! - One `MappedEnds` per segment in this process: the client's ends live in the
//!   client's process.
//! - [`register`] hands a bell to the runtime: the `AsyncFd` owns the `OwnedFd`, which
//!   stays open, and the same descriptor, until the `AsyncFd` drops.
#![allow(unsafe_code)]

use manager_proto::ring::{Consumer, Ends, Layout, Producer, Side};
use rustix::fd::BorrowedFd;
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Mutex;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Registers a bell with the current runtime, for readability.
pub(super) fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: tokio needs the descriptor to stay open, and the same, while registered.
    // An `OwnedFd` owned by the `AsyncFd` is closed only when the `AsyncFd` drops (after
    // deregistering), and its `as_raw_fd` never changes.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(std::io::Error::from)
}

/// A mapping of a ring segment.
#[derive(Debug)]
struct Segment {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: plain memory, reachable from any thread; `Segment` itself never touches it
// (the ring ends do, through atomics and raw copies that are sound from any thread).
unsafe impl Send for Segment {}
// SAFETY: as for `Send`: a `&Segment` gives nothing but its address.
unsafe impl Sync for Segment {}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr+len` is our mapping (made in `map`), unmapped only here; the
        // ends that pointed into it dropped before (field order of `MappedEnds`).
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The server's ends of one connection's rings, with the mapping they live in.
#[derive(Debug)]
pub(crate) struct MappedEnds {
    tx: Mutex<Producer>,
    rx: Mutex<Consumer>,
    /// Declared last: dropped after the ends (never read: it only keeps the mapping).
    #[allow(dead_code)]
    segment: Segment,
}

impl MappedEnds {
    /// Maps `fd` (a fresh, zeroed memfd of `layout.segment_len()` bytes, sealed at that
    /// size), writes the segment's header and takes the server's ends.
    pub(crate) fn map_new(fd: BorrowedFd<'_>, layout: Layout) -> std::io::Result<MappedEnds> {
        let len = layout.segment_len();
        // SAFETY: a new mapping at an address the kernel chooses: it aliases no Rust
        // object. The memfd has `len` bytes and is sealed (see the invariants).
        let ptr =
            unsafe { mmap(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, fd, 0) }?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        let segment = Segment { ptr, len };
        // SAFETY: `segment` is a shared read-write page-aligned mapping of `len` bytes that
        // outlives the ends (they are stored beside it, and drop first), and these are
        // the only server ends of it.
        let ends = unsafe {
            Ends::init(ptr.as_ptr(), len, layout).map_err(std::io::Error::other)?;
            Ends::new(ptr.as_ptr(), len, Side::Server).map_err(std::io::Error::other)?
        };
        Ok(MappedEnds { tx: Mutex::new(ends.tx), rx: Mutex::new(ends.rx), segment })
    }

    /// The ring the server writes.
    pub(crate) fn tx(&self) -> std::sync::MutexGuard<'_, Producer> {
        self.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ring the server reads.
    pub(crate) fn rx(&self) -> std::sync::MutexGuard<'_, Consumer> {
        self.rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
