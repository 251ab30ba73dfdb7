//! The `shared_memory` built-in's wire types: a block of memory the server creates and
//! any client process on its host maps. The server answers `open` (its contract is in
//! [`builtin::shared_memory`](crate::builtin::shared_memory)) with what a client needs
//! to reach the block's descriptor, a [`BlockDescriptor`]; the bytes themselves never
//! cross the wire.

use serde::{Deserialize, Serialize};

use crate::contract::WireAs;

/// The type id of `SharedMemory` blocks.
pub const SHARED_MEMORY: &str = "shared_memory";

/// How a client on the server's host reaches a block: the host's identity, then the
/// descriptor (`/proc/<pid>/fd/<fd>`) and the identity of the file behind it, so a
/// client can check that what it opened is the block and nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDescriptor {
    /// The server host's boot id (`/proc/sys/kernel/random/boot_id`): a client that
    /// reads another one runs on another host (or another boot of it).
    pub boot_id: String,
    /// The server's process id, as the server's pid namespace numbers it.
    pub pid: u32,
    /// The server's descriptor of the block (a memfd).
    pub fd: i32,
    /// The memfd's inode number (`fstat`).
    pub inode: u64,
    /// The memfd's device (`fstat`).
    pub device: u64,
    /// The block's size in bytes.
    pub size: u64,
}

impl WireAs<BlockDescriptor> for BlockDescriptor {}

#[cfg(test)]
mod tests {
    use super::*;

    /// `open`'s reply is its fields in order: a client built against this contract
    /// decodes any server's.
    #[test]
    fn a_descriptor_is_its_fields_in_order() {
        let d = BlockDescriptor { boot_id: "b".into(), pid: 7, fd: 3, inode: 9, device: 1, size: 4096 };
        let bytes = postcard::to_allocvec(&d).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&("b", 7u32, 3i32, 9u64, 1u64, 4096u64)).unwrap());
        assert_eq!(postcard::from_bytes::<BlockDescriptor>(&bytes).unwrap(), d);
    }
}
