//! The bench's one `unsafe`: a page of memory shared between two processes (a memfd
//! mapped read-write in each), seen only as one atomic counter — what the cache-line
//! ping-pong floor (`pingpong.rs`) hands back and forth.
//!
//! Invariants, upheld here:
//! - The mapping is exactly one page (`PAGE`), `MAP_SHARED`, read-write, made from a
//!   memfd sized to at least that page before mapping, so every byte of it is backed
//!   (no SIGBUS: the file is never shrunk; the bench's two processes only ever map it).
//! - `mmap` returns page-aligned memory, so the `AtomicU64` at offset 0 is aligned.
//! - The page is only ever read or written through that `AtomicU64` (from either
//!   process), so there is no non-atomic access to race with.
//! - The mapping lives exactly as long as the [`SharedPage`]: the `&AtomicU64` it hands
//!   out borrows it, and `Drop` unmaps it once.
#![allow(unsafe_code)]

use rustix::fd::{AsFd, OwnedFd};
use rustix::mm::{MapFlags, ProtFlags};
use std::sync::atomic::AtomicU64;

/// The size mapped (and the memfd's minimum size).
pub const PAGE: usize = 4096;

/// One page of a memfd, mapped shared: its first 8 bytes as an atomic counter.
pub struct SharedPage {
    ptr: std::ptr::NonNull<AtomicU64>,
    /// Kept open so the mapping's file is the one `fd()` names.
    fd: OwnedFd,
}

impl SharedPage {
    /// A fresh zeroed page (`memfd_create`, `ftruncate`, `mmap`).
    pub fn create() -> std::io::Result<SharedPage> {
        let fd = rustix::fs::memfd_create("manager-bench-pingpong", rustix::fs::MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, PAGE as u64)?;
        SharedPage::map(fd)
    }

    /// Maps the page of a memfd another process created (`/proc/<pid>/fd/<n>`).
    pub fn open(path: &str) -> std::io::Result<SharedPage> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        if rustix::fs::fstat(&fd)?.st_size < PAGE as i64 {
            return Err(std::io::Error::other(format!("{path} is smaller than one page")));
        }
        SharedPage::map(fd)
    }

    fn map(fd: OwnedFd) -> std::io::Result<SharedPage> {
        // SAFETY: a fresh mapping (null hint) of PAGE bytes of a file at least PAGE long
        // (checked or set by the callers); nothing else refers to that address range.
        let raw = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                PAGE,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd.as_fd(),
                0,
            )?
        };
        let ptr =
            std::ptr::NonNull::new(raw.cast::<AtomicU64>()).ok_or_else(|| std::io::Error::other("mmap gave null"))?;
        Ok(SharedPage { ptr, fd })
    }

    /// The memfd's number in this process (for a child's `/proc/<pid>/fd/<n>`).
    pub fn fd(&self) -> i32 {
        use rustix::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    /// The shared counter at the page's start.
    pub fn counter(&self) -> &AtomicU64 {
        // SAFETY: page-aligned, mapped for as long as `self` lives (the borrow), and only
        // ever accessed atomically (see the invariants above).
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; no `&AtomicU64` borrowed
        // from `self` outlives it.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), PAGE) };
    }
}
