//! The object API: what every hosted object implements ([`ServerObject`]), what a call
//! returns ([`Step`], [`Reply`]), and what it knows of its caller ([`CallContext`]).
//! Everything a built-in or the `#[shared]` adapter needs, and nothing of sockets.

use manager_proto::dispatch::{BoxFuture, Outcome};
use manager_proto::outq::SharedBytes;
use manager_proto::repr::Repr;
use manager_proto::stream::BoxSource;
use manager_proto::{MethodRef, ObjectId, RemoteError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::hash::IdHashBuilder;
use crate::limits::Limits;
use crate::table::{ObjectTable, Typed};

/// The table of the server's objects.
pub(crate) type Table = ObjectTable<dyn ServerObject>;

impl Typed for dyn ServerObject {
    fn type_name(&self) -> &str {
        self.shared_type_id()
    }
}

/// Puts back what a transferring call took (an item into its queue, a lock's
/// ownership), if its caller never received it.
pub(crate) type Undo = Box<dyn FnOnce() + Send>;

/// A call's successful result.
pub(crate) struct Reply {
    /// The encoded return value (inline when small).
    pub(crate) bytes: manager_proto::Reply,
    /// Set for calls that take something (a queue item, a lock): how to give it back if
    /// the caller cancels after the server answered. The reply is then sent as a
    /// `Transfer`, which the client acknowledges on delivery.
    pub(crate) undo: Option<Undo>,
    /// Whether what was taken is held by the caller's connection (a lock, a permit),
    /// which its end releases anyway: the reply is then a `Grant`, whose `Ack` the
    /// client may send late, with its next request.
    pub(crate) grant: bool,
    /// A large stored element the reply carries after `bytes`, written from where it
    /// lies, then the bytes that follow it (see [`Reply::shared_element`]).
    pub(crate) shared: Option<(SharedBytes, Vec<u8>)>,
}

impl Reply {
    /// A plain result.
    pub(crate) fn value(bytes: impl Into<manager_proto::Reply>) -> Self {
        Reply { bytes: bytes.into(), undo: None, grant: false, shared: None }
    }

    /// A result that took something (a queue item), and how to give it back.
    pub(crate) fn transfer(bytes: impl Into<manager_proto::Reply>, undo: Undo) -> Self {
        Reply { bytes: bytes.into(), undo: Some(undo), grant: false, shared: None }
    }

    /// A plain result encoded in three parts: `head`, then the shared `body` (a large
    /// stored element, not copied), then `trailer`.
    pub(crate) fn shared_element(head: Vec<u8>, body: SharedBytes, trailer: Vec<u8>) -> Self {
        Reply { bytes: head.into(), undo: None, grant: false, shared: Some((body, trailer)) }
    }

    /// A result that made the caller's connection hold something (a lock, a permit)
    /// that the connection's end releases, and how to release it sooner.
    pub(crate) fn grant(bytes: impl Into<manager_proto::Reply>, undo: Undo) -> Self {
        Reply { bytes: bytes.into(), undo: Some(undo), grant: true, shared: None }
    }
}

/// A call's outcome.
pub(crate) type StepResult = Result<Reply, RemoteError>;

/// What calling a method produced: a result now, or a future for one.
pub(crate) enum Step {
    Ready(StepResult),
    Pending(BoxFuture<'static, StepResult>),
}

impl Step {
    pub(crate) fn from_outcome(outcome: Outcome<'static>) -> Step {
        match outcome {
            Outcome::Ready(r) => Step::Ready(r.map(Reply::value)),
            Outcome::Pending(f) => Step::Pending(Box::pin(async move { f.await.map(Reply::value) })),
        }
    }
}

/// A hosted object. User types get this through [`UserObject`]; the built-ins
/// implement it directly, because they need the caller's identity (lock owners) and
/// their own fine-grained waiting.
pub(crate) trait ServerObject: Send + Sync + 'static {
    /// The type id.
    fn shared_type_id(&self) -> &str;

    /// The exposed name of method `id`, for messages: users know methods by name,
    /// proxies call them by id. `None` (the default): no method of this type has it.
    fn method_name(&self, _id: u32) -> Option<&'static str> {
        None
    }

    /// How a message names `method` of this object: `` `dict.get` ``, as users
    /// know it, or an unknown method with its id.
    fn describe(&self, method: MethodRef<'_>) -> String {
        let type_id = self.shared_type_id();
        let name = match method {
            MethodRef::Name(name) => Some(name),
            MethodRef::Id(id) => self.method_name(id),
        };
        match name {
            Some(name) => format!("`{type_id}.{name}`"),
            None => format!("{method} of `{type_id}`"),
        }
    }

    /// Calls a method. A synchronous result comes back at once; anything that may wait
    /// comes back as a future owning what it needs.
    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, args: &[u8]) -> Step;

    /// Opens stream method `method` (an iterator method, a live iteration, a watch):
    /// its producer, which the connection polls for batches while the client has room
    /// (see `manager_proto::stream`). The default has no stream methods.
    fn open(
        self: Arc<Self>,
        _ctx: &CallContext,
        method: MethodRef<'_>,
        _args: &[u8],
    ) -> Result<BoxSource, RemoteError> {
        Err(RemoteError::new(
            manager_proto::RemoteErrorKind::NotExposed,
            format!("{} is not a stream method", self.describe(method)),
        ))
    }

    /// The encoded value (Python's `_getvalue`).
    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step;

    /// The object as `Any`, to find a built-in's concrete type (a condition's lock).
    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync>;

    /// The connection `conn` is gone: release whatever it held here (locks, permits).
    /// Only called for objects the connection asked to be told about
    /// ([`CallContext::on_disconnect`]).
    fn disconnected(&self, _conn: u64) {}

    /// Appends the id of every object whose reference this one holds in what it stores
    /// (once per reference), for the cycle collector. The default, none, is always
    /// safe: an object whose holders are not all reported counts as held from outside,
    /// so it and what it references are never collected (`#[shared]` types report
    /// none). Takes the object's own lock briefly; never the table's.
    fn references(&self, _out: &mut Vec<ObjectId>) {}

    /// Writes what `Inspect` shows of this object's state into `out`, which stops at
    /// its bound: a container's contents like Python's repr, its elements read as the
    /// types `types` names (its fingerprint's parameters; empty when it has none), a
    /// lock's owner, a queue's length. The default writes nothing, and the report shows
    /// `<type #id>`. Takes the object's own lock briefly; never the table's.
    fn render(&self, _types: &[&str], _out: &mut Repr) {}

    /// Appends the connections holding this object as a lock or a semaphore's permit
    /// (each once), for `Inspect`. Takes the object's own lock briefly.
    fn holders(&self, _out: &mut Vec<u64>) {}
}

/// What calls reach of the running server beyond the table: the registry, to host the
/// `Shared<T>` values `#[shared]` methods return, and the server's identity, for the
/// tokens of the handles calls hold. Implemented by the server's state.
pub(crate) trait Hosting: Send + Sync {
    /// `value` (a `T` of the `#[shared]` type `type_id`, named `type_name`) as an object,
    /// with the fingerprint its type gives its objects, or an error naming it if no such
    /// type is registered.
    fn wrap(
        &self,
        type_id: &str,
        type_name: &str,
        value: Box<dyn std::any::Any + Send>,
    ) -> Result<(Arc<dyn ServerObject>, crate::table::Fingerprint), RemoteError>;

    /// Leases `object` for a token minted on the server (see `leases.rs`).
    fn lease(&self, object: manager_proto::ObjectId) -> Result<(), RemoteError>;

    /// This run's id.
    fn server(&self) -> manager_proto::ServerId;

    /// An address the server listens on.
    fn address(&self) -> &manager_proto::Address;
}

/// Who is calling, and what a call may do to the caller's connection: the context the
/// built-in types need (lock owners, references handed out with elements).
#[derive(Clone)]
pub(crate) struct CallContext {
    conn: Arc<ConnShared>,
    table: Arc<Table>,
    /// The running server, for calls that host objects or take proxy arguments; `None`
    /// for the server's own start-up calls.
    hosting: Option<Arc<dyn Hosting>>,
    /// Whether this is a call made in place, through a handle a `#[shared]` method
    /// holds, rather than by the connection: references it hands out go to that handle,
    /// not to the connection's own.
    local: bool,
    /// The frame of the request being handled, when it was large and taken whole from
    /// the receive buffer: a large element in its arguments is stored as its part of
    /// the frame instead of being copied out (see [`CallContext::received_part`]).
    received: Option<SharedBytes>,
    /// What one request may make the server allocate.
    limits: Limits,
}

/// The part of a connection that calls (parked ones too) reach.
struct ConnShared {
    /// The connection's id, unique within a server run.
    id: u64,
    /// Objects to tell when this connection ends.
    watched: Mutex<Watched>,
    /// References taken for this connection by calls that handed out elements holding
    /// proxies; merged into the connection's own before the reply goes out.
    adopted: Mutex<Vec<(ObjectId, Arc<dyn ServerObject>)>>,
    /// Whether `adopted` may be non-empty: every reply checks, and almost none has any,
    /// so one load spares a lock (about 60 instructions per call, callgrind).
    any_adopted: AtomicBool,
}

/// The objects a connection asked to be told about when it ends, by address (one
/// entry per object; the `Weak` keeps the address from being reused). An object dropped
/// meanwhile leaves a dead entry, and its allocation with it: dead entries are swept
/// whenever the map has doubled, so a client that creates, locks and drops locks in a
/// loop does not grow its connection.
struct Watched {
    objects: HashMap<usize, Weak<dyn ServerObject>, IdHashBuilder>,
    /// Sweep dead entries when there are this many.
    prune_at: usize,
}

impl Watched {
    const MIN_PRUNE: usize = 64;

    fn insert(&mut self, object: &Arc<dyn ServerObject>) {
        let key = Arc::as_ptr(object) as *const () as usize;
        self.objects.entry(key).or_insert_with(|| Arc::downgrade(object));
        if self.objects.len() >= self.prune_at {
            self.objects.retain(|_, w| w.strong_count() > 0);
            self.prune_at = self.objects.len().saturating_mul(2).max(Self::MIN_PRUNE);
        }
    }
}

impl ConnShared {
    fn new(id: u64) -> Arc<ConnShared> {
        Arc::new(ConnShared {
            id,
            watched: Mutex::new(Watched { objects: HashMap::default(), prune_at: Watched::MIN_PRUNE }),
            adopted: Mutex::new(Vec::new()),
            any_adopted: AtomicBool::new(false),
        })
    }
}

impl CallContext {
    /// The context of the server itself (connection 0), for objects it creates at
    /// start-up.
    pub(crate) fn internal(table: Arc<Table>, limits: Limits) -> CallContext {
        CallContext { conn: ConnShared::new(0), table, hosting: None, local: false, received: None, limits }
    }

    /// The context of connection `id`'s calls.
    pub(crate) fn for_connection(id: u64, table: Arc<Table>, limits: Limits, hosting: Arc<dyn Hosting>) -> CallContext {
        CallContext { conn: ConnShared::new(id), table, hosting: Some(hosting), local: false, received: None, limits }
    }

    /// The context of calls made in place on this connection's behalf (through handles
    /// a `#[shared]` method holds): the same caller, but references handed out belong
    /// to the handle the result is decoded on.
    pub(crate) fn local(&self) -> CallContext {
        CallContext { local: true, received: None, ..self.clone() }
    }

    /// The running server, if this is a connection's context.
    pub(crate) fn hosting(&self) -> Option<&Arc<dyn Hosting>> {
        self.hosting.as_ref()
    }

    /// Marks the request being handled as arriving in `frame`, taken whole (`None`
    /// when it is done).
    pub(crate) fn set_received(&mut self, frame: Option<SharedBytes>) {
        self.received = frame;
    }

    /// The references calls took for this connection since the last time, if any.
    pub(crate) fn take_adopted(&self) -> Option<Vec<(ObjectId, Arc<dyn ServerObject>)>> {
        // Set under the lock after a push; cleared here under the lock before taking. A
        // call that adopted finished before its reply is built, so its store is seen.
        if !self.conn.any_adopted.load(Ordering::Acquire) {
            return None;
        }
        let mut adopted = self.conn.adopted.lock().unwrap_or_else(|p| p.into_inner());
        self.conn.any_adopted.store(false, Ordering::Relaxed);
        Some(std::mem::take(&mut *adopted))
    }

    /// The objects to tell that this connection ended (each once), still alive.
    pub(crate) fn take_watched(&self) -> Vec<Arc<dyn ServerObject>> {
        let mut w = self.conn.watched.lock().unwrap_or_else(|p| p.into_inner());
        w.objects.drain().filter_map(|(_, obj)| obj.upgrade()).collect()
    }

    /// The calling connection's id.
    pub(crate) fn connection(&self) -> u64 {
        self.conn.id
    }

    /// What one request may make the server allocate.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The object table.
    pub(crate) fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// This context, handling a request whose frame was taken whole.
    #[cfg(test)]
    pub(crate) fn receiving(self, frame: SharedBytes) -> CallContext {
        CallContext { received: Some(frame), ..self }
    }

    /// `bytes` (part of the arguments being handled) as a part of the request frame they
    /// arrived in, shared instead of copied. `None` unless the frame was taken whole,
    /// and unless `bytes` are most of it: a part keeps the whole frame alive, and a
    /// second large argument (a dict's key, `compare_exchange`'s expected value) must
    /// not live on with it.
    pub(crate) fn received_part(&self, bytes: &[u8]) -> Option<SharedBytes> {
        let frame = self.received.as_ref()?;
        if bytes.len() < frame.len() - frame.len() / 8 {
            return None;
        }
        frame.part(bytes)
    }

    /// Asks for `object.disconnected(id)` when this connection ends.
    pub(crate) fn on_disconnect(&self, object: Arc<dyn ServerObject>) {
        self.conn.watched.lock().unwrap_or_else(|p| p.into_inner()).insert(&object);
    }

    /// Takes a reference to `object` for the calling connection: the reply hands the
    /// caller a proxy to it. (For a call made in place, for the handle it is decoded
    /// into.)
    pub(crate) fn adopt(&self, object: ObjectId) -> Result<(), RemoteError> {
        let target = self.table.incref(object)?;
        if self.local {
            // The handle the result is decoded into owns it.
            return Ok(());
        }
        let mut adopted = self.conn.adopted.lock().unwrap_or_else(|p| p.into_inner());
        adopted.push((object, target));
        self.conn.any_adopted.store(true, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use manager_proto::RemoteErrorKind;
    use std::any::Any;

    /// An object that only counts the disconnections it is told of.
    struct Told(std::sync::atomic::AtomicU64);

    impl ServerObject for Told {
        fn shared_type_id(&self) -> &str {
            "told"
        }
        fn call(self: Arc<Self>, _: &CallContext, _: manager_proto::MethodRef<'_>, _: &[u8]) -> Step {
            Step::Ready(Err(RemoteError::new(RemoteErrorKind::NotExposed, "none")))
        }
        fn value_copy(self: Arc<Self>, _: &CallContext) -> Step {
            Step::Ready(Err(RemoteError::new(RemoteErrorKind::NotExposed, "none")))
        }
        fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
            self
        }
        fn disconnected(&self, _conn: u64) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn watched_objects_that_were_dropped_are_swept() {
        let mut watched = Watched { objects: HashMap::default(), prune_at: Watched::MIN_PRUNE };
        // A client that creates, locks and drops objects in a loop.
        for _ in 0..10_000 {
            let object: Arc<dyn ServerObject> = Arc::new(Told(Default::default()));
            watched.insert(&object);
            watched.insert(&object);
        }
        assert!(watched.objects.len() < 2 * Watched::MIN_PRUNE, "{} entries kept", watched.objects.len());
        // A live object is kept and told, even at the address of a dropped one.
        let told = Arc::new(Told(Default::default()));
        let object: Arc<dyn ServerObject> = told.clone();
        watched.insert(&object);
        for _ in 0..1000 {
            watched.insert(&(Arc::new(Told(Default::default())) as Arc<dyn ServerObject>));
        }
        for w in watched.objects.values().filter_map(Weak::upgrade) {
            w.disconnected(1);
        }
        assert_eq!(told.0.load(Ordering::Relaxed), 1);
    }
}
