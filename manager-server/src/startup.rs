//! What a server does once before it serves: its named objects, and the user's
//! start-up hooks ([`ServerBuilder::on_start`](crate::ServerBuilder::on_start)).

use manager_proto::dispatch::Dispatch;
use std::sync::Arc;

use crate::error::ServerError;
use crate::object::{CallContext, ServerObject};
use crate::state::Shared;
use crate::table::Fingerprint;
use crate::user_object::UserObject;

/// A built-in object a server creates at start-up under a name (see
/// [`ServerBuilder::named_builtin`](crate::ServerBuilder::named_builtin) and [`Startup::named_builtin`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Builtin {
    /// An empty `dict`.
    Dict,
    /// An empty `list`.
    List,
    /// An empty `set`.
    Set,
    /// An empty `Namespace`.
    Namespace,
    /// A `Queue`; `maxsize` 0 is unbounded.
    Queue {
        /// The bound.
        maxsize: u64,
    },
    /// A `JoinableQueue`; `maxsize` 0 is unbounded.
    JoinableQueue {
        /// The bound.
        maxsize: u64,
    },
    /// A `Lock`.
    Lock,
    /// An `RLock`.
    RLock,
    /// A `Semaphore` with this many permits.
    Semaphore(u64),
    /// A `BoundedSemaphore` with this many permits.
    BoundedSemaphore(u64),
    /// A `Condition` over its own `RLock`.
    Condition,
    /// An `Event`.
    Event,
    /// A `Barrier`.
    Barrier {
        /// How many callers it waits for.
        parties: u64,
        /// The default wait timeout, in seconds.
        timeout: Option<f64>,
    },
    /// A `Value` holding one element, given as its postcard encoding (what a client's
    /// `value(x)` sends: `postcard::to_allocvec(&x)`); a client reads it with the type
    /// that encoding is of.
    Value(Vec<u8>),
    /// An `Array` of these elements, each given as its postcard encoding (like
    /// [`Builtin::Value`]'s); its length never changes.
    Array(Vec<Vec<u8>>),
}

impl Builtin {
    /// The type id and encoded constructor arguments.
    pub(crate) fn constructor(&self) -> (&'static str, Vec<u8>) {
        use manager_proto::builtin as b;
        /// Plain integers, options and empty vectors: postcard cannot fail on them.
        fn enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
            postcard::to_allocvec(v).unwrap_or_default()
        }
        let empty: Vec<(manager_proto::Item, manager_proto::Item)> = Vec::new();
        let none: Vec<manager_proto::Item> = Vec::new();
        match self {
            Builtin::Dict => (b::DICT, enc(&(empty,))),
            Builtin::List => (b::LIST, enc(&(none,))),
            Builtin::Set => (b::SET, enc(&(none,))),
            Builtin::Namespace => (b::NAMESPACE, enc(&(Vec::<(String, manager_proto::Item)>::new(),))),
            Builtin::Queue { maxsize } => (b::QUEUE, enc(&(*maxsize,))),
            Builtin::JoinableQueue { maxsize } => (b::JOINABLE_QUEUE, enc(&(*maxsize,))),
            Builtin::Lock => (b::LOCK, Vec::new()),
            Builtin::RLock => (b::RLOCK, Vec::new()),
            Builtin::Semaphore(n) => (b::SEMAPHORE, enc(&(*n,))),
            Builtin::BoundedSemaphore(n) => (b::BOUNDED_SEMAPHORE, enc(&(*n,))),
            Builtin::Condition => (b::CONDITION, enc(&(None::<manager_proto::Item>,))),
            Builtin::Event => (b::EVENT, Vec::new()),
            Builtin::Barrier { parties, timeout } => (b::BARRIER, enc(&(*parties, *timeout, ""))),
            // Plain elements: a start-up value names no object.
            Builtin::Value(bytes) => (b::VALUE, enc(&(manager_proto::Item::plain(bytes.clone()),))),
            Builtin::Array(items) => {
                let items: Vec<manager_proto::Item> = items.iter().cloned().map(manager_proto::Item::plain).collect();
                (b::ARRAY, enc(&(items,)))
            }
        }
    }
}

/// A start-up hook, as [`ServerBuilder::on_start`](crate::ServerBuilder::on_start)
/// keeps it.
pub(crate) type StartHook = Box<dyn FnOnce(&mut Startup<'_>) -> Result<(), ServerError> + Send>;

/// What a start-up hook may do to the server it runs in: create named objects, before
/// any client can connect. Given to the hooks of
/// [`ServerBuilder::on_start`](crate::ServerBuilder::on_start).
pub struct Startup<'a> {
    /// The server being started: its table and registry.
    shared: &'a Shared,
    /// The context objects are constructed in (no connection).
    ctx: CallContext,
}

impl std::fmt::Debug for Startup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Startup").field("server", &self.shared.server_id).finish_non_exhaustive()
    }
}

impl<'a> Startup<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Startup<'a> {
        Startup { shared, ctx: CallContext::internal(Arc::clone(&shared.table), shared.config.limits()) }
    }

    /// Hosts `value` under `name` for the server's whole life (like
    /// [`ServerBuilder::named`](crate::ServerBuilder::named)). A name already taken is
    /// an error.
    pub fn named<T: Dispatch>(&mut self, name: &str, value: T) -> Result<(), ServerError> {
        self.bind(name, Arc::new(UserObject::new(value)), crate::registry::interface::<T>())
    }

    /// Hosts a new built-in object under `name` (like
    /// [`ServerBuilder::named_builtin`](crate::ServerBuilder::named_builtin)): its element
    /// types are left open.
    pub fn named_builtin(&mut self, name: &str, builtin: Builtin) -> Result<(), ServerError> {
        self.named_builtin_pinned(name, builtin, None)
    }

    /// [`named_builtin`](Self::named_builtin), its element types pinned to a proxy's
    /// when `pinned` says so.
    pub(crate) fn named_builtin_pinned(
        &mut self,
        name: &str,
        builtin: Builtin,
        pinned: Option<&Pinned>,
    ) -> Result<(), ServerError> {
        let (type_id, args) = builtin.constructor();
        let fingerprint = match pinned {
            Some(pinned) if pinned.type_id != type_id => {
                return Err(ServerError::Config(format!(
                    "the named {type_id} `{name}` is pinned to a proxy of `{}` objects",
                    pinned.type_id
                )));
            }
            Some(pinned) => pinned.fingerprint.as_str(),
            None => "",
        };
        let (object, kept) = self
            .shared
            .registry
            .construct(type_id, fingerprint, &args, &self.ctx)
            .map_err(|e| ServerError::Config(format!("the named {type_id} `{name}`: {}", e.message)))?;
        self.bind(name, object, kept)
    }

    pub(crate) fn bind(
        &mut self,
        name: &str,
        object: Arc<dyn ServerObject>,
        fingerprint: Fingerprint,
    ) -> Result<(), ServerError> {
        let table = &self.shared.table;
        let id = table.insert(object, fingerprint);
        let bound = table.bind_name(name, id).map_err(|e| ServerError::Config(e.message));
        // The name holds the object now (or nothing does); drop the creator's reference.
        table.release(id);
        bound
    }
}

/// The proxy type a named built-in is pinned to
/// ([`ServerBuilder::named_typed`](crate::ServerBuilder::named_typed)).
pub(crate) struct Pinned {
    /// The proxy's type id, which must be the built-in's.
    pub(crate) type_id: &'static str,
    /// The proxy's fingerprint, which the object keeps.
    pub(crate) fingerprint: String,
}

/// The named objects and the start-up hooks, in that order.
pub(crate) fn prepare(
    shared: &Shared,
    named_builtins: Vec<(String, Builtin, Option<Pinned>)>,
    named: Vec<(String, Arc<dyn ServerObject>, Fingerprint)>,
    hooks: Vec<StartHook>,
) -> Result<(), ServerError> {
    let mut startup = Startup::new(shared);
    for (name, builtin, pinned) in named_builtins {
        startup.named_builtin_pinned(&name, builtin, pinned.as_ref())?;
    }
    for (name, object, fingerprint) in named {
        startup.bind(&name, object, fingerprint)?;
    }
    for hook in hooks {
        hook(&mut startup)?;
    }
    Ok(())
}
