//! Wire-level facts about the built-in types that client and server must agree on:
//! their type ids, the number kinds `Value`'s atomic arithmetic understands, and each
//! built-in's method contracts (one file for all: adding a built-in adds its block here).

use serde::{Deserialize, Serialize};

/// `dict`
pub const DICT: &str = "dict";
/// `list`
pub const LIST: &str = "list";
/// `set`
pub const SET: &str = "set";
/// `Namespace`
pub const NAMESPACE: &str = "namespace";
/// `Value`
pub const VALUE: &str = "value";
/// `Array`
pub const ARRAY: &str = "array";
/// `Queue`
pub const QUEUE: &str = "queue";
/// `JoinableQueue`
pub const JOINABLE_QUEUE: &str = "joinable_queue";
/// `Lock`
pub const LOCK: &str = "lock";
/// `RLock`
pub const RLOCK: &str = "rlock";
/// `Semaphore`
pub const SEMAPHORE: &str = "semaphore";
/// `BoundedSemaphore`
pub const BOUNDED_SEMAPHORE: &str = "bounded_semaphore";
/// `Condition`
pub const CONDITION: &str = "condition";
/// `Event`
pub const EVENT: &str = "event";
/// `Barrier`
pub const BARRIER: &str = "barrier";

/// How a `Value` holding a number is encoded, so the server can do arithmetic on bytes
/// it otherwise never interprets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum NumKind {
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
}

/// A number type `Value` can add to atomically.
pub trait Number: Serialize + serde::de::DeserializeOwned + Copy + Send + Sync + 'static {
    /// Its encoding.
    const KIND: NumKind;
}

macro_rules! numbers {
    ($($t:ty => $k:ident),*) => {
        $(impl Number for $t { const KIND: NumKind = NumKind::$k; })*
    };
}
numbers!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128, u8 => U8, u16 => U16, u32 => U32,
    u64 => U64, u128 => U128, f32 => F32, f64 => F64);

#[cfg(target_pointer_width = "64")]
impl Number for usize {
    const KIND: NumKind = NumKind::U64;
}
#[cfg(target_pointer_width = "64")]
impl Number for isize {
    const KIND: NumKind = NumKind::I64;
}

use crate::contract::WireAs;

impl WireAs<NumKind> for NumKind {}

impl crate::contract::Shape for NumKind {
    fn shape(out: &mut String) {
        out.push('K');
    }
}

/// Declares built-ins' method contracts: per built-in, a module holding its
/// constructor's argument tuple (`New`), one uninhabited type per method implementing
/// [`Method`](crate::contract::Method), and `NAMES` / `IDS` (the exposed methods, in the same order).
macro_rules! contract {
    ($(
        $(#[$doc:meta])*
        pub mod $module:ident ($type_name:literal) {
            $(#[$ndoc:meta])* new $new:ty;
            $($(#[$mdoc:meta])* $marker:ident = $name:literal : $args:ty => $reply:ty;)*
        }
    )*) => {$(
        $(#[$doc])*
        pub mod $module {
            #[allow(unused_imports)]
            use $crate::contract::{Method, WithItem};
            #[allow(unused_imports)]
            use $crate::{Item, builtin::NumKind};

            /// The constructor's argument tuple.
            $(#[$ndoc])*
            pub type New = $new;
            /// What a constructor's errors name.
            pub const NEW: &str = concat!($type_name, "()");

            $(
                $(#[$mdoc])*
                #[derive(Debug)]
                pub enum $marker {}

                impl Method for $marker {
                    const NAME: &'static str = $name;
                    const WHAT: &'static str = concat!($type_name, ".", $name);
                    type Args = $args;
                    type Reply = $reply;
                }
            )*

            /// The exposed methods' names.
            pub const NAMES: &[&str] = &[$($name),*];

            /// The constructor's [`Shape`](crate::contract::Shape), and each method's name
            /// and arguments' shape, in `NAMES` order.
            pub fn shapes() -> (String, Vec<(&'static str, String)>) {
                use $crate::contract::Shape;
                let shape = |f: fn(&mut String)| {
                    let mut out = String::new();
                    f(&mut out);
                    out
                };
                (shape(<New as Shape>::shape), vec![$(($name, shape(<<$marker as Method>::Args as Shape>::shape))),*])
            }
            /// Their ids, in the same order (computed at compile time: hashing a name
            /// per call costs about 50 instructions).
            pub const IDS: &[u32] = &[$(<$marker as Method>::ID),*];
        }
    )*};
}

// Each built-in's methods: `Marker = "name": (arguments) => reply;`. The server's
// `builtins/<type>.rs` decodes and answers through these, the client's proxies encode
// and decode through them (see [`crate::contract`]). An owner id (`u64` first argument
// of a lock's methods) is the client's task or thread.
contract! {
    /// `dict`'s methods.
    pub mod dict("dict") {
        new (Vec<(Item, Item)>,);
        Get = "get": (Item,) => Option<Item>;
        Insert = "insert": (Item, Item) => Option<Item>;
        Remove = "remove": (Item,) => Item;
        Contains = "contains": (Item,) => bool;
        Len = "len": () => u64;
        /// A one-shot copy of the pairs, in order (`d.copy()`).
        Snapshot = "snapshot": () => Vec<(Item, Item)>;
        Pop = "pop": (Item,) => Item;
        PopOr = "pop_or": (Item, Item) => Item;
        PopItem = "popitem": () => (Item, Item);
        SetDefault = "setdefault": (Item, Item) => Item;
        Update = "update": (Vec<(Item, Item)>,) => ();
        Clear = "clear": () => ();
        /// `self | other`: a new mapping's pairs; the dict is unchanged.
        Merged = "merged": (Vec<(Item, Item)>,) => Vec<(Item, Item)>;
        /// A stream: `for k in d`, `d.keys()`, live — the dict is read a batch at a
        /// time, and one that changed size (or keys) meanwhile ends it with
        /// `ChangedDuringIteration`, after the keys already sent.
        Keys = "keys": () => Item;
        /// A stream: `d.values()`, live as [`Keys`] is; a value replaced before its key
        /// is reached is sent as it is then.
        Values = "values": () => Item;
        /// A stream: `d.items()`, live as [`Keys`] is.
        Items = "items": () => (Item, Item);
        /// A stream: the state and its version, then every change with the next version
        /// (see [`crate::watch`]).
        Watch = "watch": () => crate::watch::Watch<Vec<(Item, Item)>, crate::watch::DictChange<Item, Item>>;
    }

    /// `list`'s methods. Indexes and slice bounds are Python's (negative from the end).
    pub mod list("list") {
        new (Vec<Item>,);
        Get = "get": (i64,) => Item;
        Set = "set": WithItem<(i64,), ()> => ();
        /// `del l[i]`, returning what was there.
        Delete = "delete": (i64,) => Item;
        Slice = "slice": (Option<i64>, Option<i64>, Option<i64>) => Vec<Item>;
        SetSlice = "set_slice": (Option<i64>, Option<i64>, Vec<Item>) => ();
        DeleteSlice = "delete_slice": (Option<i64>, Option<i64>, Option<i64>) => ();
        Append = "append": WithItem<(), ()> => ();
        Extend = "extend": (Vec<Item>,) => ();
        Insert = "insert": WithItem<(i64,), ()> => ();
        Pop = "pop": (Option<i64>,) => Item;
        Remove = "remove": (Item,) => ();
        Index = "index": (Item, Option<i64>, Option<i64>) => u64;
        Count = "count": (Item,) => u64;
        Contains = "contains": (Item,) => bool;
        Reverse = "reverse": () => ();
        Repeat = "repeat": (u64,) => ();
        Clear = "clear": () => ();
        Len = "len": () => u64;
        Snapshot = "snapshot": () => Vec<Item>;
        /// The elements and the list's version (for `replace_if`).
        Versioned = "versioned": () => (u64, Vec<Item>);
        /// Replaces the elements if the version is still the one given.
        ReplaceIf = "replace_if": (u64, Vec<Item>) => bool;
        /// A stream: `for x in l`, live — each item is read by index when it is sent,
        /// so writes made meanwhile are seen, as Python's list iterator sees them.
        Iter = "iter": () => Item;
        /// A stream: the state and its version, then every change with the next version
        /// (see [`crate::watch`]).
        Watch = "watch": () => crate::watch::Watch<Vec<Item>, crate::watch::ListChange<Item>>;
    }

    /// `set`'s methods.
    pub mod set("set") {
        new (Vec<Item>,);
        Add = "add": (Item,) => ();
        Discard = "discard": (Item,) => ();
        Remove = "remove": (Item,) => ();
        Contains = "contains": (Item,) => bool;
        Len = "len": () => u64;
        Pop = "pop": () => Item;
        Clear = "clear": () => ();
        Snapshot = "snapshot": () => Vec<Item>;
        Union = "union": (Vec<Item>,) => Vec<Item>;
        Intersection = "intersection": (Vec<Item>,) => Vec<Item>;
        Difference = "difference": (Vec<Item>,) => Vec<Item>;
        SymmetricDifference = "symmetric_difference": (Vec<Item>,) => Vec<Item>;
        Update = "update": (Vec<Item>,) => ();
        IntersectionUpdate = "intersection_update": (Vec<Item>,) => ();
        DifferenceUpdate = "difference_update": (Vec<Item>,) => ();
        SymmetricDifferenceUpdate = "symmetric_difference_update": (Vec<Item>,) => ();
        IsDisjoint = "isdisjoint": (Vec<Item>,) => bool;
        IsSubset = "issubset": (Vec<Item>,) => bool;
        IsSuperset = "issuperset": (Vec<Item>,) => bool;
        /// A stream: `for x in s`, live — the set is read a batch at a time, and one
        /// that changed meanwhile ends it with `ChangedDuringIteration`, after the
        /// elements already sent.
        Iter = "iter": () => Item;
        /// A stream: the state and its version, then every change with the next version
        /// (see [`crate::watch`]).
        Watch = "watch": () => crate::watch::Watch<Vec<Item>, crate::watch::SetChange<Item>>;
    }

    /// `Namespace`'s methods: attributes by name.
    pub mod namespace("Namespace") {
        new (Vec<(String, Item)>,);
        Get = "get": (String,) => Item;
        Set = "set": WithItem<(String,), ()> => ();
        Delete = "delete": (String,) => ();
        Contains = "contains": (String,) => bool;
        Names = "names": () => Vec<String>;
        Items = "items": () => Vec<(String, Item)>;
        /// A stream: the state and its version, then every change with the next version
        /// (see [`crate::watch`]).
        Watch = "watch": () => crate::watch::Watch<Vec<(String, Item)>, crate::watch::NamespaceChange<Item>>;
    }

    /// `Value`'s methods.
    pub mod value("Value") {
        new (Item,);
        Get = "get": () => Item;
        Set = "set": WithItem<(), ()> => ();
        Swap = "swap": (Item,) => Item;
        /// `Ok(old)` when it held `expected` (now `new`), else `Err(current)`.
        CompareExchange = "compare_exchange": (Item, Item) => Result<Item, Item>;
        /// Adds a number's encoding (of the kind given) atomically; the old value.
        FetchAdd = "fetch_add": (NumKind, Vec<u8>) => Item;
        /// Subtracts, as `FetchAdd` adds.
        FetchSub = "fetch_sub": (NumKind, Vec<u8>) => Item;
        /// A stream: the state and its version, then every change with the next version
        /// (see [`crate::watch`]).
        Watch = "watch": () => crate::watch::Watch<Item, crate::watch::ValueChange<Item>>;
    }

    /// `Array`'s methods: a fixed-length sequence.
    pub mod array("Array") {
        new (Vec<Item>,);
        Len = "len": () => u64;
        Get = "get": (i64,) => Item;
        Set = "set": (i64, Item) => ();
        Slice = "slice": (Option<i64>, Option<i64>, Option<i64>) => Vec<Item>;
        SetSlice = "set_slice": (Option<i64>, Option<i64>, Option<i64>, Vec<Item>) => ();
        Snapshot = "snapshot": () => Vec<Item>;
    }

    /// `Queue`'s and `JoinableQueue`'s methods. A timeout is in seconds (`None`: for
    /// ever), as Python's.
    pub mod queue("Queue") {
        new (u64,);
        Put = "put": WithItem<(), (bool, Option<f64>)> => ();
        Get = "get": (bool, Option<f64>) => Item;
        /// Puts what fits now; how many went in.
        PutMany = "put_many": (Vec<Item>,) => u64;
        /// Up to `n` elements (waiting, as `get`, for the first).
        GetMany = "get_many": (u64, bool, Option<f64>) => Vec<Item>;
        Qsize = "qsize": () => u64;
        Empty = "empty": () => bool;
        Full = "full": () => bool;
        Maxsize = "maxsize": () => u64;
        Shutdown = "shutdown": (bool,) => ();
        TaskDone = "task_done": () => ();
        Join = "join": () => ();
        /// A stream: the state and its version, then every change with the next version
        /// (see [`crate::watch`]).
        Watch = "watch": () => crate::watch::Watch<u64, crate::watch::QueueChange>;
    }

    /// `Lock`'s and `RLock`'s methods; the first argument is the caller's owner id.
    pub mod lock("Lock") {
        new ();
        Acquire = "acquire": (u64, bool, Option<f64>) => bool;
        Release = "release": (u64,) => ();
        Locked = "locked": (u64,) => bool;
        Owned = "owned": (u64,) => bool;
    }

    /// `Semaphore`'s and `BoundedSemaphore`'s methods.
    pub mod semaphore("Semaphore") {
        new (u64,);
        Acquire = "acquire": (bool, Option<f64>) => bool;
        /// Releases `n` permits.
        Release = "release": (u64,) => ();
        Value = "value": () => u64;
    }

    /// `Condition`'s methods; the first argument is the caller's owner id.
    pub mod condition("Condition") {
        /// The lock to use (a `Lock` or `RLock` proxy), or a new `RLock`.
        new (Option<Item>,);
        Acquire = "acquire": (u64, bool, Option<f64>) => bool;
        Release = "release": (u64,) => ();
        Wait = "wait": (u64, Option<f64>) => bool;
        Notify = "notify": (u64, u64) => ();
        NotifyAll = "notify_all": (u64,) => ();
    }

    /// `Event`'s methods.
    pub mod event("Event") {
        new ();
        IsSet = "is_set": () => bool;
        Set = "set": () => ();
        Clear = "clear": () => ();
        Wait = "wait": (Option<f64>,) => bool;
        /// A stream: the state and its version, then every change with the next version
        /// (see [`crate::watch`]).
        Watch = "watch": () => crate::watch::Watch<bool, crate::watch::EventChange>;
    }

    /// `Barrier`'s methods.
    pub mod barrier("Barrier") {
        /// The number of parties, the default timeout, and the name of the action the
        /// server runs on each pass (registered on its builder; empty: none).
        new (u64, Option<f64>, String);
        Wait = "wait": (Option<f64>,) => u64;
        Abort = "abort": () => ();
        Reset = "reset": () => ();
        Parties = "parties": () => u64;
        NWaiting = "n_waiting": () => u64;
        Broken = "broken": () => bool;
    }
}

contract! {
    /// `SharedMemory`'s methods (its wire types are in [`crate::shm`]).
    pub mod shared_memory("SharedMemory") {
        /// The block's size in bytes (at least 1, at most the server's cap).
        new (u64,);
        /// Where the block's descriptor is, for mapping it.
        Open = "open": () => crate::shm::BlockDescriptor;
        /// The block's size in bytes.
        Size = "size": () => u64;
    }
}

/// Every built-in's type id with its [`shapes`](dict::shapes), in this module's order
/// (dict first, barrier last): what a generator of calls needs to make arguments that
/// decode.
#[allow(clippy::type_complexity)]
pub fn all_shapes() -> Vec<(&'static str, String, Vec<(&'static str, String)>)> {
    let with = |type_id: &'static str, (new, methods): (String, Vec<(&'static str, String)>)| (type_id, new, methods);
    vec![
        with(DICT, dict::shapes()),
        with(LIST, list::shapes()),
        with(SET, set::shapes()),
        with(NAMESPACE, namespace::shapes()),
        with(VALUE, value::shapes()),
        with(ARRAY, array::shapes()),
        with(QUEUE, queue::shapes()),
        with(JOINABLE_QUEUE, queue::shapes()),
        with(LOCK, lock::shapes()),
        with(RLOCK, lock::shapes()),
        with(SEMAPHORE, semaphore::shapes()),
        with(BOUNDED_SEMAPHORE, semaphore::shapes()),
        with(CONDITION, condition::shapes()),
        with(EVENT, event::shapes()),
        with(BARRIER, barrier::shapes()),
        with(crate::pool::TYPE_ID, crate::pool::methods::shapes()),
        with(crate::shm::SHARED_MEMORY, shared_memory::shapes()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Methods travel as the hash of their name: no two of one built-in may share one.
    #[test]
    fn no_builtin_has_colliding_method_ids() {
        for (names, ids) in [
            (dict::NAMES, dict::IDS),
            (list::NAMES, list::IDS),
            (set::NAMES, set::IDS),
            (namespace::NAMES, namespace::IDS),
            (value::NAMES, value::IDS),
            (array::NAMES, array::IDS),
            (queue::NAMES, queue::IDS),
            (lock::NAMES, lock::IDS),
            (semaphore::NAMES, semaphore::IDS),
            (condition::NAMES, condition::IDS),
            (event::NAMES, event::IDS),
            (barrier::NAMES, barrier::IDS),
            (crate::pool::methods::NAMES, crate::pool::methods::IDS),
            (shared_memory::NAMES, shared_memory::IDS),
        ] {
            let mut sorted = ids.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{names:?}");
            assert!(names.iter().zip(ids).all(|(n, id)| crate::method_id(n) == *id));
        }
    }
}
