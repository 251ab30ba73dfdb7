//! Introspection of a running server: what `Request::Inspect` asks and what the server
//! answers (Python's `debug_info`, and more).
//!
//! The answer is a `Value` holding the postcard encoding of a `Vec` of reports:
//! [`ObjectReport`]s for [`Query::Objects`] and [`Query::Object`] (one, or the error
//! `NoSuchObject`), [`ConnectionReport`]s for [`Query::Connections`]. Like
//! [`ServerStats`](crate::ServerStats), the reports may grow fields at the end in later
//! versions, and a client reading an older server's reports fails to decode them with a
//! clear error instead of misreading them. They are also what `manager-cli --json`
//! prints (so they derive serde as plain structs).
//!
//! ```
//! use manager_proto::inspect::{Holder, ObjectReport};
//! use manager_proto::ObjectId;
//!
//! let report = ObjectReport {
//!     id: ObjectId(3),
//!     type_id: "dict".into(),
//!     refs: 2,
//!     holders: vec![Holder { connection: 1, refs: 1 }],
//!     names: vec!["config".into()],
//!     repr: "{'a': 1}".into(),
//! };
//! let bytes = postcard::to_allocvec(&vec![report.clone()]).unwrap();
//! assert_eq!(postcard::from_bytes::<Vec<ObjectReport>>(&bytes).unwrap(), vec![report]);
//! ```

use crate::ObjectId;
use serde::{Deserialize, Serialize};

/// The most characters of an object's [`ObjectReport::repr`], `...` included (Python's
/// `debug_info` cuts at 75 too).
pub const REPR_MAX: usize = 75;

/// What an `Inspect` request asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query<'a> {
    /// Every live object, or only those of one type id (`dict`, `queue`, a `#[shared]`
    /// type's id). Answered with `Vec<ObjectReport>`, sorted by id.
    Objects {
        /// The type id to keep, or `None` for all.
        #[serde(borrow)]
        type_id: Option<&'a str>,
    },
    /// One object. Answered with a `Vec<ObjectReport>` of one, or `NoSuchObject`.
    Object {
        /// Its id.
        id: ObjectId,
    },
    /// Every open connection. Answered with `Vec<ConnectionReport>`, sorted by id.
    Connections,
}

/// One connection holding references to an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The connection's id (as in [`ConnectionReport::id`]).
    pub connection: u64,
    /// How many references its client took and has not released (the table counts the
    /// connection once, however many).
    pub refs: u64,
}

/// One live object, as `manager-cli ls` and `show` print it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectReport {
    /// Its id.
    pub id: ObjectId,
    /// Its type as users know it: `dict`, `queue`, a `#[shared]` type's id.
    pub type_id: String,
    /// Its reference count in the server's table: one per connection holding it, per
    /// name, per container element holding a proxy to it, per token lease.
    pub refs: u64,
    /// The connections holding it (the rest of `refs` are names, elements and leases).
    pub holders: Vec<Holder>,
    /// Its names, if it is named.
    pub names: Vec<String>,
    /// A rendering of at most [`REPR_MAX`] characters, cut with `...`: a container's
    /// contents like Python's repr (`{'a': 1}`, elements of types the server cannot
    /// read shown as `<Type>`), a lock's owner, a queue's length, or `<type #id>`.
    pub repr: String,
}

/// A reference a connection holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRef {
    /// The object.
    pub object: ObjectId,
    /// How many references its client took and has not released.
    pub refs: u64,
}

/// One open connection, as `manager-cli conns` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionReport {
    /// Its id, unique within the server's run (the one its log lines carry as `conn`).
    pub id: u64,
    /// The peer's address (a Unix socket's peer is usually unnamed).
    pub peer: String,
    /// Milliseconds since it was accepted.
    pub age_ms: u64,
    /// Calls not finished with: parked ones, plus answers that handed something over
    /// (a queue item, a lock) and wait for the client's acknowledgement.
    pub calls_in_flight: u64,
    /// Calls parked: blocked waits (`get`, `acquire`) and running async methods. An
    /// `Inspect` is parked while it gathers, so the asking connection counts it.
    pub parked_calls: u64,
    /// Streams open: iterations, stream methods and watches.
    pub streams: u64,
    /// Of those, watches (`watch()`).
    pub watches: u64,
    /// Locks, RLocks and semaphores it holds (a semaphore once however many permits).
    pub locks_held: Vec<ObjectId>,
    /// The references it holds, by object.
    pub refs_held: Vec<HeldRef>,
}
