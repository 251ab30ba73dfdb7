//! `SharedMemory`: a block of memory (a memfd) the server holds and clients on its
//! host map.
//!
//! The server never reads or writes the block: it creates the memfd (never named in
//! `/dev/shm`, so nothing is left there whatever dies, the server included — the kernel
//! frees the memory with the last descriptor and mapping), keeps its descriptor for
//! the object's lifetime, and answers `open` with where that descriptor is
//! (`/proc/<pid>/fd/<fd>`) and the file's identity. The object's lifetime is the
//! table's usual reference counting: when the last reference goes (a dead client's
//! included) the descriptor closes. A server-wide [`Pool`] caps the bytes of live
//! blocks.

use manager_proto::builtin::shared_memory as s;
use manager_proto::contract::Method;
use manager_proto::shm::{BlockDescriptor, SHARED_MEMORY};
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use rustix::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::{args, err, new_args, reply, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step};
use crate::registry::Constructor;

pub(crate) const TYPE_ID: &str = SHARED_MEMORY;

/// The default cap on the bytes of a server's live blocks: 1 GiB. Room for the
/// issue's 256 MiB workload several times over, while a peer holding the key cannot
/// make the server's host commit more than that to blocks (a memfd's pages count once
/// touched, by whoever touches them).
pub(crate) const DEFAULT_MAX_SHARED_MEMORY: u64 = 1 << 30;

/// The bytes of every live block of one server, against its cap.
#[derive(Debug)]
pub(crate) struct Pool {
    /// The most bytes live blocks may have together (`ServerBuilder::max_shared_memory`).
    cap: u64,
    /// The bytes of live blocks: added before a memfd is made, given back when one
    /// closes.
    live: AtomicU64,
}

impl Pool {
    pub(crate) fn new(cap: u64) -> Pool {
        Pool { cap, live: AtomicU64::new(0) }
    }

    /// Takes `size` bytes, or says why not (naming the size, the cap and what is live).
    fn take(&self, size: u64) -> Result<(), RemoteError> {
        let mut live = self.live.load(Ordering::Relaxed);
        loop {
            let after = live.checked_add(size).filter(|after| *after <= self.cap).ok_or_else(|| {
                err(
                    RemoteErrorKind::LimitExceeded,
                    format!(
                        "a shared memory block of {size} bytes would pass the server's cap of {} bytes on live \
                         blocks ({live} bytes are in blocks already): drop blocks no longer needed, or start the \
                         server with a larger --max-shared-memory (ServerBuilder::max_shared_memory)",
                        self.cap
                    ),
                )
            })?;
            match self.live.compare_exchange_weak(live, after, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => live = now,
            }
        }
    }

    fn give_back(&self, size: u64) {
        self.live.fetch_sub(size, Ordering::Relaxed);
    }
}

/// The registry's constructor of blocks drawing on `pool`.
pub(crate) fn constructor(pool: Arc<Pool>) -> Constructor {
    Box::new(move |bytes, _ctx| Ok(Arc::new(SharedMemory::create(bytes, &pool)?) as Arc<dyn ServerObject>))
}

/// This host's boot id, read once: what tells a client whether it runs on the same host.
fn boot_id() -> &'static str {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    BOOT_ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_owned()).unwrap_or_default()
    })
}

pub(crate) struct SharedMemory {
    /// The memfd: the block exists as long as this (and any client's mapping) does.
    fd: OwnedFd,
    /// What `open` answers (the descriptor's number and the file's identity).
    descriptor: BlockDescriptor,
    /// Where the block's bytes are counted; given back on drop.
    pool: Arc<Pool>,
}

impl SharedMemory {
    fn create(bytes: &[u8], pool: &Arc<Pool>) -> Result<SharedMemory, RemoteError> {
        let (size,) = new_args::<s::New, (u64,)>(bytes, s::NEW)?;
        if size == 0 {
            return Err(err(
                RemoteErrorKind::InvalidValue,
                "a shared memory block of 0 bytes: give a size of at least 1 byte",
            ));
        }
        pool.take(size)?;
        match make_memfd(size) {
            Ok((fd, descriptor)) => Ok(SharedMemory { fd, descriptor, pool: Arc::clone(pool) }),
            Err(e) => {
                pool.give_back(size);
                Err(e)
            }
        }
    }
}

/// A memfd of `size` bytes (sparse: no memory is committed until touched) and what
/// `open` answers for it.
fn make_memfd(size: u64) -> Result<(OwnedFd, BlockDescriptor), RemoteError> {
    use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, fstat, ftruncate, memfd_create};
    let failed = |what: &str, e: rustix::io::Errno| {
        err(
            RemoteErrorKind::LimitExceeded,
            format!("the server could not {what} for a shared memory block of {size} bytes: {e}"),
        )
    };
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let fd = memfd_create("manager-shared-memory", flags).map_err(|e| failed("create a memfd", e))?;
    ftruncate(&fd, size).map_err(|e| failed("size its memfd", e))?;
    // Sealed at its size before anyone can open it: no client (a hostile one included)
    // can shrink it under another's mapping (whose accesses would then fault).
    fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
        .map_err(|e| failed("seal its memfd", e))?;
    let stat = fstat(&fd).map_err(|e| failed("stat its memfd", e))?;
    let descriptor = BlockDescriptor {
        boot_id: boot_id().to_owned(),
        pid: std::process::id(),
        fd: fd.as_raw_fd(),
        inode: stat.st_ino,
        #[allow(clippy::useless_conversion)] // u64 on 64-bit Linux, not everywhere
        device: u64::from(stat.st_dev),
        size,
    };
    Ok((fd, descriptor))
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        self.pool.give_back(self.descriptor.size);
    }
}

impl ServerObject for SharedMemory {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(s::NAMES, s::IDS, id)
    }

    fn call(self: Arc<Self>, _ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let result = resolve(TYPE_ID, s::NAMES, s::IDS, method).and_then(|id| match id {
            s::Open::ID => args::<s::Open, _>(bytes).and_then(|()| reply::<s::Open>(&self.descriptor)),
            s::Size::ID => args::<s::Size, _>(bytes).and_then(|()| reply::<s::Size>(&self.descriptor.size)),
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown SharedMemory method")),
        });
        Step::Ready(result)
    }

    /// A block's value is its size: its bytes live in the block, not on the server.
    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(super::encode(&self.descriptor.size))
    }

    fn render(&self, _types: &[&str], out: &mut manager_proto::repr::Repr) {
        out.push(&format!("<shared_memory size={}>", self.descriptor.size));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemory").field("fd", &self.fd).field("size", &self.descriptor.size).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool refuses what would pass its cap, names the numbers, and takes back
    /// what a dropped block gave.
    #[test]
    fn the_pool_caps_live_bytes() {
        let pool = Arc::new(Pool::new(10_000));
        let a = SharedMemory::create(&postcard::to_allocvec(&(6000u64,)).unwrap(), &pool).unwrap();
        let over = SharedMemory::create(&postcard::to_allocvec(&(6000u64,)).unwrap(), &pool).unwrap_err();
        assert_eq!(over.kind, RemoteErrorKind::LimitExceeded);
        assert!(over.message.contains("6000 bytes") && over.message.contains("10000 bytes"), "{over}");
        let zero = SharedMemory::create(&postcard::to_allocvec(&(0u64,)).unwrap(), &pool).unwrap_err();
        assert_eq!(zero.kind, RemoteErrorKind::InvalidValue);
        drop(a);
        SharedMemory::create(&postcard::to_allocvec(&(10_000u64,)).unwrap(), &pool).unwrap();
        assert_eq!(pool.live.load(Ordering::Relaxed), 0);
    }
}
