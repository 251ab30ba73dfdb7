//! Wire-level facts about the built-in types that client and server must agree on:
//! their type ids, and the number kinds `Value`'s atomic arithmetic understands.

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
