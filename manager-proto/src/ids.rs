//! Identifiers that cross the wire: objects, servers, requests, methods.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies one object in one server run. Ids are never reused within a run, so a
/// stale id can only ever name nothing, never a different object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ObjectId(pub u64);

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Identifies one run of a server: random at start-up, sent in the handshake, and
/// carried by tokens, so a token from a previous run is refused with a clear error
/// instead of addressing whatever now has its object id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerId(pub u64);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Matches a response to its request on a multiplexed connection. Id 0 means "no
/// response wanted" (decref, cancel).
pub type RequestId = u64;

/// The request id that asks for no response.
pub const NO_RESPONSE: RequestId = 0;

/// The stable 32-bit id of a method: FNV-1a over its exposed name.
///
/// Methods are addressed by this hash (or by name), never by declaration order, so adding
/// or reordering methods does not break clients built before. `#[shared]` refuses a type
/// whose exposed names collide.
pub const fn method_id(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}

/// How a call names its method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodRef<'a> {
    /// By [`method_id`] of the name (what generated proxies send: 5 bytes).
    Id(u32),
    /// By name (dynamic calls, Python's `_callmethod`).
    Name(&'a str),
}

impl MethodRef<'_> {
    /// The method's id.
    pub fn id(&self) -> u32 {
        match self {
            MethodRef::Id(id) => *id,
            MethodRef::Name(name) => method_id(name),
        }
    }
}

impl fmt::Display for MethodRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Whoever knows the id's name says it instead (the server's
            // `ServerObject::describe`): an id printed is one no type exposes.
            MethodRef::Id(id) => write!(f, "an unknown method (id {id:#010x})"),
            MethodRef::Name(name) => write!(f, "method `{name}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_ids_are_fnv1a() {
        // Reference values of 32-bit FNV-1a.
        assert_eq!(method_id(""), 0x811c_9dc5);
        assert_eq!(method_id("a"), 0xe40c_292c);
        assert_eq!(method_id("foobar"), 0xbf9c_f968);
        assert_eq!(MethodRef::Name("incr").id(), method_id("incr"));
    }
}
