//! The built-in types every server hosts (Python's SyncManager set), with Python's
//! semantics and better failure behaviour.
//!
//! They store elements as encoded bytes ([`Element`]), so any server hosts them for any
//! client types; the client's typed proxy encodes and decodes. Each type is one file: its
//! state behind a plain mutex (held only for the few instructions of an operation, never
//! across an await), its exposed methods in a table of names, and its blocking
//! operations as futures that own what they need and are safe to drop at any await.
//!
//! Every number here may come from a peer: arithmetic is checked, saturating or
//! explicitly wrapping (the lints below keep it so), each request's work is bounded by
//! the object's size and never by a count the peer chooses, and what a request may make
//! the server allocate is bounded by [`budget`].
#![warn(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing
)]

use manager_proto::builtin as b;
use manager_proto::contract::{Method, WireAs};
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind, method_id};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::object::CallContext;
use crate::object::{Reply, ServerObject, Step, StepResult};
use crate::registry::{Constructor, Registry};

mod array;
mod barrier;
mod budget;
mod condition;
mod dict;
mod element;
mod event;
mod iteration;
mod list;
mod lock;
mod namespace;
mod ordered;
mod pool;
mod queue;
mod render;
mod semaphore;
mod seq;
mod set;
mod shared_memory;
mod value;
mod waiters;
mod watch;

pub(crate) use barrier::{Action as BarrierAction, Actions as BarrierActions};
pub(crate) use element::{Element, Refs};
pub(crate) use shared_memory::DEFAULT_MAX_SHARED_MEMORY;

/// A registry of every built-in type (and nothing else yet).
pub(crate) fn registry() -> Registry {
    let mut registry = Registry::default();
    register_all(&mut registry);
    registry
}

/// Registers every built-in type: its type id, its methods' names (from its contract in
/// `manager_proto::builtin`) and its constructor.
fn register_all(registry: &mut Registry) {
    use manager_proto::builtin::{
        array as a, barrier as ba, condition as c, dict as d, event as e, list as l, lock as lk, namespace as n,
        queue as q, semaphore as s, set as st, value as v,
    };
    for (type_id, names, construct) in [
        (b::DICT, d::NAMES, ctor(dict::Dict::create)),
        (b::LIST, l::NAMES, ctor(list::List::create)),
        (b::SET, st::NAMES, ctor(set::Set::create)),
        (b::NAMESPACE, n::NAMES, ctor(namespace::Namespace::create)),
        (b::VALUE, v::NAMES, ctor(value::Value::create)),
        (b::ARRAY, a::NAMES, ctor(array::Array::create)),
        (b::QUEUE, q::NAMES, ctor(queue::Queue::create)),
        (b::JOINABLE_QUEUE, q::NAMES, ctor(queue::Queue::create_joinable)),
        (b::LOCK, lk::NAMES, ctor(lock::Lock::create_lock)),
        (b::RLOCK, lk::NAMES, ctor(lock::Lock::create_rlock)),
        (b::SEMAPHORE, s::NAMES, ctor(semaphore::Semaphore::create)),
        (b::BOUNDED_SEMAPHORE, s::NAMES, ctor(semaphore::Semaphore::create_bounded)),
        (b::CONDITION, c::NAMES, ctor(condition::Condition::create)),
        (b::EVENT, e::NAMES, ctor(event::Event::create)),
        (b::BARRIER, ba::NAMES, barrier::constructor(Arc::default())),
        (manager_proto::pool::TYPE_ID, manager_proto::pool::methods::NAMES, ctor(pool::Pool::create)),
    ] {
        registry.insert(type_id, names.iter().map(|n| (*n).to_owned()).collect(), construct);
    }
    register_shared_memory(registry, DEFAULT_MAX_SHARED_MEMORY);
}

/// Lets a server's shared memory blocks have `cap` bytes live together (replacing the
/// constructor with the default cap).
pub(crate) fn register_shared_memory(registry: &mut Registry, cap: u64) {
    let names = manager_proto::builtin::shared_memory::NAMES.iter().map(|n| (*n).to_owned()).collect();
    let pool = Arc::new(shared_memory::Pool::new(cap));
    registry.insert(manager_proto::shm::SHARED_MEMORY, names, shared_memory::constructor(pool));
}

/// Lets a server's barriers choose among `actions` (replacing the constructor that
/// knows none).
pub(crate) fn register_barrier_actions(registry: &mut Registry, actions: barrier::Actions) {
    let names = manager_proto::builtin::barrier::NAMES.iter().map(|n| (*n).to_owned()).collect();
    registry.insert(b::BARRIER, names, barrier::constructor(Arc::new(actions)));
}

fn ctor<T: ServerObject>(f: fn(&[u8], &CallContext) -> Result<T, RemoteError>) -> Constructor {
    Box::new(move |args, ctx| Ok(Arc::new(f(args, ctx)?) as Arc<dyn ServerObject>))
}

/// Resolves a method reference against a built-in's names and their `ids`.
pub(crate) fn resolve(type_id: &str, names: &[&str], ids: &[u32], method: MethodRef<'_>) -> Result<u32, RemoteError> {
    let found = match method {
        MethodRef::Id(id) => ids.contains(&id).then_some(id),
        MethodRef::Name(name) => names.contains(&name).then(|| method_id(name)),
    };
    found.ok_or_else(|| {
        RemoteError::new(
            RemoteErrorKind::NotExposed,
            format!("`{type_id}` does not expose {method} (exposed: {})", names.join(", ")),
        )
    })
}

/// Decodes method `M`'s arguments as `A`: its contract's tuple, or one written with the
/// same bytes (an element borrowed from the request where the contract has an `Item`).
pub(crate) fn args<'a, M: Method, A: Deserialize<'a> + WireAs<M::Args>>(bytes: &'a [u8]) -> Result<A, RemoteError> {
    decode(bytes, M::WHAT)
}

/// [`args`] for arguments holding sequences of elements, decoded as
/// [`budget::Budgeted`]: charged against the request's memory limit as they decode.
pub(crate) fn args_within<'a, M: Method, A: Deserialize<'a> + WireAs<M::Args>>(
    bytes: &'a [u8],
    ctx: &CallContext,
) -> Result<A, RemoteError> {
    budget::decode_within(bytes, M::WHAT, ctx.limits())
}

/// Decodes a constructor's arguments (`N`: its contract's tuple, `what`: the
/// constructor as users know it), as [`args`] does a method's.
pub(crate) fn new_args<'a, N, A: Deserialize<'a> + WireAs<N>>(bytes: &'a [u8], what: &str) -> Result<A, RemoteError> {
    decode(bytes, what)
}

/// [`new_args`] for constructors taking sequences, as [`args_within`].
pub(crate) fn new_within<'a, N, A: Deserialize<'a> + WireAs<N>>(
    bytes: &'a [u8],
    what: &str,
    ctx: &CallContext,
) -> Result<A, RemoteError> {
    budget::decode_within(bytes, what, ctx.limits())
}

/// Decodes a tuple; trailing bytes are an error.
pub(crate) fn decode<'a, A: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<A, RemoteError> {
    let (value, rest) = postcard::take_from_bytes::<A>(bytes)
        .map_err(|e| RemoteError::new(RemoteErrorKind::Decode, format!("the arguments of {what}: {e}")))?;
    if !rest.is_empty() {
        return Err(RemoteError::new(
            RemoteErrorKind::Decode,
            format!("the arguments of {what}: {} bytes too many", rest.len()),
        ));
    }
    Ok(value)
}

/// Encodes method `M`'s reply from `value`: its contract's reply, or one written with
/// the same bytes.
pub(crate) fn reply<M: Method>(value: &(impl Serialize + WireAs<M::Reply> + ?Sized)) -> StepResult {
    encode(value)
}

/// [`reply`]'s bytes, for a reply that carries more than its value (a grant to undo, a
/// transfer to give back).
pub(crate) fn reply_bytes<M: Method>(
    value: &(impl Serialize + WireAs<M::Reply> + ?Sized),
) -> Result<manager_proto::Reply, RemoteError> {
    manager_proto::Reply::encode(value, M::WHAT).map_err(|e| RemoteError::new(RemoteErrorKind::Protocol, e.to_string()))
}

/// Encodes a value that answers no method (an object's copy for `value_copy`).
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> StepResult {
    manager_proto::Reply::encode(value, "a result")
        .map(Reply::value)
        .map_err(|e| RemoteError::new(RemoteErrorKind::Protocol, e.to_string()))
}

/// A ready step from a result.
pub(crate) fn ready(result: StepResult) -> Step {
    Step::Ready(result)
}

/// How the answer to a stream method called as a plain call ends.
pub(crate) const STREAM_METHOD: &str = "is a stream method: it is opened, not called";

/// The answer to stream method `what` (`dict.items`) called as a plain call.
pub(crate) fn stream_method(what: &str) -> RemoteError {
    err(RemoteErrorKind::NotExposed, format!("{what} {STREAM_METHOD}"))
}

/// The answer to opening method `id` (one of `ids`, named as in `names`) of a
/// `type_name` as a stream when it is not one.
pub(crate) fn not_a_stream(type_name: &str, names: &[&'static str], ids: &[u32], id: u32) -> RemoteError {
    let name = name_of(names, ids, id).unwrap_or("?");
    err(RemoteErrorKind::NotExposed, format!("{type_name}.{name} is not a stream method: call it instead"))
}

/// The name of method `id` among a built-in's `names` and their `ids` (its
/// [`ServerObject::method_name`]).
pub(crate) fn name_of(names: &[&'static str], ids: &[u32], id: u32) -> Option<&'static str> {
    ids.iter().position(|&i| i == id).and_then(|at| names.get(at)).copied()
}

/// An error of `kind`.
pub(crate) fn err(kind: RemoteErrorKind, message: impl Into<String>) -> RemoteError {
    RemoteError::new(kind, message)
}

/// Locks a built-in's state. Nothing panics while these locks are held (plain data
/// operations), but a poisoned lock must not take the server down.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A timeout argument (seconds, as Python's) as a duration; `None` is forever.
pub(crate) fn timeout(seconds: Option<f64>, what: &str) -> Result<Option<Duration>, RemoteError> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s.min(1e9)))),
        Some(s) => Err(err(
            RemoteErrorKind::InvalidValue,
            format!("{what}: the timeout must be a non-negative number of seconds, not {s}"),
        )),
    }
}
