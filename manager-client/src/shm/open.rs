//! Reaching a block's descriptor from a client on the server's host: the host check
//! (boot ids), the open of `/proc/<pid>/fd/<fd>`, and the checks that what was opened
//! is the block (inode, device, size, seals) before it is mapped.

use manager_proto::ObjectId;
use manager_proto::shm::BlockDescriptor;
use rustix::fd::AsFd;
use std::sync::Arc;

use super::error::ShmError;
use super::region::Region;

/// This host's boot id, or empty if it cannot be read.
pub(crate) fn local_boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// Whether a client whose host has boot id `here` may map the block `d` describes.
pub(crate) fn check_host(object: ObjectId, d: &BlockDescriptor, here: &str) -> Result<(), ShmError> {
    if d.boot_id.is_empty() || here.is_empty() || d.boot_id != here {
        return Err(ShmError::OtherHost {
            object: object.to_string(),
            server: if d.boot_id.is_empty() { "unknown".into() } else { d.boot_id.clone() },
            here: if here.is_empty() { "unknown".into() } else { here.to_owned() },
        });
    }
    Ok(())
}

/// Opens and maps the block `d` describes (`populate`: pre-fault its pages).
pub(crate) fn map(object: ObjectId, d: &BlockDescriptor, populate: bool) -> Result<Region, ShmError> {
    use rustix::fs::{Mode, OFlags, SealFlags, fcntl_get_seals, fstat, open};
    check_host(object, d, &local_boot_id())?;
    let path = format!("/proc/{}/fd/{}", d.pid, d.fd);
    let file = open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).map_err(|e| ShmError::Open {
        object: object.to_string(),
        path: path.clone(),
        reason: why_not(e),
    })?;
    let not_it = || ShmError::NotTheBlock { object: object.to_string(), path: path.clone() };
    let stat = fstat(&file).map_err(|_| not_it())?;
    #[allow(clippy::useless_conversion)] // u64 on 64-bit Linux, not everywhere
    let same_file = stat.st_ino == d.inode && u64::from(stat.st_dev) == d.device;
    let sealed = fcntl_get_seals(&file).is_ok_and(|s| s.contains(SealFlags::SHRINK));
    let long_enough = u64::try_from(stat.st_size).is_ok_and(|len| len >= d.size);
    if !(same_file && sealed && long_enough) {
        return Err(not_it());
    }
    let size = usize::try_from(d.size).map_err(|_| ShmError::Map {
        object: object.to_string(),
        size: d.size,
        source: Arc::new(std::io::Error::other("larger than this process's address space")),
    })?;
    Region::map(file.as_fd(), size, populate).map_err(|e| ShmError::Map {
        object: object.to_string(),
        size: d.size,
        source: Arc::new(e),
    })
}

/// What an open of `/proc/<pid>/fd/<fd>` failing with `e` means, and what to do.
fn why_not(e: rustix::io::Errno) -> String {
    use rustix::io::Errno;
    match e {
        Errno::ACCESS | Errno::PERM => format!(
            "{e}: the manager runs as another user (or under a stricter ptrace policy); run this client as the \
             manager's user"
        ),
        Errno::NOENT => format!(
            "{e}: no such process or descriptor here: the manager runs in another pid namespace (a container) \
             than this client, or has just dropped the block; run the client in the manager's pid namespace"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(boot_id: &str) -> BlockDescriptor {
        BlockDescriptor { boot_id: boot_id.into(), pid: 1, fd: 3, inode: 1, device: 1, size: 1 }
    }

    /// Only a client on the host with the server's boot id may map; the error names
    /// the block and both ids, and says what to do instead.
    #[test]
    fn another_boot_id_is_another_host() {
        let here = "0b1c2d3e-0000-4000-8000-000000000001";
        assert!(check_host(ObjectId(4), &descriptor(here), here).is_ok());
        let e = check_host(ObjectId(4), &descriptor("ffffffff-0000-4000-8000-000000000002"), here).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("block #4") && text.contains("another host") && text.contains(here), "{text}");
        assert!(text.contains("Value, an Array or a list"), "{text}");
        // An unknown id on either side is never taken for the same host.
        assert!(check_host(ObjectId(4), &descriptor(""), here).is_err());
        assert!(check_host(ObjectId(4), &descriptor(here), "").is_err());
    }
}
