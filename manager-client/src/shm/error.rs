//! What can go wrong mapping and using a shared memory block: each error names the
//! block, the sizes or index involved, and what to do.

use std::sync::Arc;

/// An error of a shared memory block, a typed view or a [`ShareableList`](super::ShareableList).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// A call to the server failed (connection lost, the block dropped, a limit).
    #[error(transparent)]
    Call(#[from] manager_proto::Error),
    /// The block lives on another host than this process (or another boot of it).
    #[error(
        "shared memory block {object} lives on the manager's host; this client runs on another host (the \
         manager's boot id is {server}, this host's is {here}): shared memory needs the same host — copy the \
         data through a Value, an Array or a list instead"
    )]
    OtherHost {
        /// The block (its object id).
        object: String,
        /// The server's boot id.
        server: String,
        /// This host's boot id (empty if it could not be read).
        here: String,
    },
    /// The block's descriptor could not be opened through `/proc`.
    #[error("cannot open shared memory block {object} at {path}: {reason}")]
    Open {
        /// The block.
        object: String,
        /// The `/proc/<pid>/fd/<fd>` path tried.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The file at the block's `/proc` path is not the block (another process under
    /// that pid: a client in another pid namespace).
    #[error(
        "{path} is not shared memory block {object}: this client sees another process under the manager's pid \
         (it runs in another pid namespace); run it in the manager's pid namespace"
    )]
    NotTheBlock {
        /// The block.
        object: String,
        /// The path opened.
        path: String,
    },
    /// Mapping the block failed.
    #[error("cannot map shared memory block {object} ({size} bytes): {source}")]
    Map {
        /// The block.
        object: String,
        /// Its size.
        size: u64,
        /// The system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// An access past the block's end.
    #[error("{len} bytes at offset {offset} do not fit in shared memory block {object} of {size} bytes")]
    OutOfBounds {
        /// The block.
        object: String,
        /// Where the access started.
        offset: usize,
        /// Its length in bytes.
        len: usize,
        /// The block's size.
        size: usize,
    },
    /// A typed view that does not fit the type: misaligned, a length that is not a
    /// whole number of elements, or a zero-sized type.
    #[error("shared memory block {object} cannot be viewed as [{type_name}]: {reason}")]
    BadView {
        /// The block.
        object: String,
        /// The element type.
        type_name: &'static str,
        /// What does not fit.
        reason: String,
    },
    /// An index past the end of a typed view or list.
    #[error("index {index} is out of range for {what} of length {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// Its length.
        len: usize,
        /// The view or list.
        what: &'static str,
    },
    /// A value whose encoding exceeds its `ShareableList` slot (Python: "exceeds
    /// available storage").
    #[error(
        "the value's encoding ({needed} bytes) exceeds the available storage of ShareableList slot {index} \
         ({capacity} bytes, fixed when the list was made): make the list with a larger slot size"
    )]
    SlotOverflow {
        /// The slot.
        index: usize,
        /// The value's encoded size.
        needed: usize,
        /// The slot's capacity.
        capacity: usize,
    },
    /// The block does not hold a `ShareableList` (or one damaged by another writer).
    #[error("shared memory block {object} does not hold a ShareableList: {reason}")]
    NotAList {
        /// The block.
        object: String,
        /// What is wrong with its header.
        reason: String,
    },
    /// A block too small for what was asked (a list's layout).
    #[error("shared memory block {object} has {size} bytes; {what} needs {needed}")]
    TooSmall {
        /// The block.
        object: String,
        /// Its size.
        size: usize,
        /// What needs the room.
        what: &'static str,
        /// The bytes needed.
        needed: usize,
    },
    /// A `ShareableList` slot stayed half-written: a writer died in the middle of
    /// writing it.
    #[error(
        "ShareableList slot {index} has been half-written for over {waited:?}: a process was killed while \
         writing it; set the slot again to repair it"
    )]
    SlotAbandoned {
        /// The slot.
        index: usize,
        /// How long the reader waited.
        waited: std::time::Duration,
    },
    /// A `ShareableList` value that does not encode or decode as its type.
    #[error("ShareableList slot {index}: {reason}")]
    Codec {
        /// The slot.
        index: usize,
        /// Serde's complaint.
        reason: String,
    },
}
