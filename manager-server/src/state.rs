//! What every task of a running server shares: its configuration, its objects, its
//! counters, and the signal that stops it.

use manager_proto::{Address, AuthKey, RemoteError, ServerId, ServerStats};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::leases::Leases;
use crate::liveness::Watches;
use crate::object::{Hosting, ServerObject, Table};
use crate::registry::Registry;

/// Counters behind `Stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) parked: AtomicU64,
    /// Streams open now.
    pub(crate) streams: AtomicU64,
    /// Transfers undone (see `ServerStats::transfers_undone`).
    pub(crate) undone: AtomicU64,
    /// Objects the cycle collector freed (see `ServerStats::cycles_collected`).
    pub(crate) collected: AtomicU64,
    /// Source of connection ids (unique within a run, across listeners).
    pub(crate) next_connection: AtomicU64,
}

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    pub(crate) table: Arc<Table>,
    /// Cancelled to shut the server down; every task watches it.
    pub(crate) shutdown: CancellationToken,
    pub(crate) stats: Counters,
    /// This run's id, sent in handshakes and carried by tokens.
    pub(crate) server_id: ServerId,
    /// The first address the server listens on, for the tokens of handles its calls
    /// hold.
    pub(crate) address: Address,
    pub(crate) authkey: AuthKey,
    /// Bounds connections, authenticated or not.
    pub(crate) connection_slots: Arc<Semaphore>,
    /// Every connection being served, for the idle sweep and shutdown.
    pub(crate) watches: Arc<Watches>,
    /// Tokens' leases: objects the server holds while their tokens travel.
    pub(crate) leases: Arc<Leases>,
    /// Reconnecting clients' sessions, by id.
    pub(crate) sessions: crate::sessions::Sessions,
}

impl Shared {
    /// The state of a server that has no listener, task or object yet.
    pub(crate) fn new(
        config: Config,
        registry: Registry,
        authkey: AuthKey,
        server_id: ServerId,
        address: Address,
    ) -> Shared {
        Shared {
            address,
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            leases: Arc::new(Leases::new(config.token_lease)),
            config,
            registry,
            table: Arc::new(Table::default()),
            shutdown: CancellationToken::new(),
            stats: Counters::default(),
            server_id,
            authkey,
            watches: Arc::default(),
            sessions: Default::default(),
        }
    }

    /// The state [`ServerBuilder::start`] makes for a default builder (every built-in type
    /// registered) with `config`, but no listener, task or named object: for serving a
    /// [`Connection`] over a socket of one's own (the fuzzing harness). Barriers may
    /// choose the action `a` (which does nothing); other names are unknown.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn for_tests(config: Config, authkey: AuthKey) -> Shared {
        let mut registry = crate::builtins::registry();
        let nothing: crate::builtins::BarrierAction = Arc::new(|| {});
        crate::builtins::register_barrier_actions(&mut registry, [("a".to_owned(), nothing)].into_iter().collect());
        let address = Address::Unix("/nonexistent/manager.sock".into());
        Shared::new(config, registry, authkey, ServerId(1), address)
    }

    pub(crate) fn stats(&self) -> ServerStats {
        let (objects, named, objects_by_type) = self.table.counts();
        ServerStats {
            objects,
            named,
            connections: self.stats.connections.load(Ordering::Relaxed),
            requests: self.stats.requests.load(Ordering::Relaxed),
            parked_calls: self.stats.parked.load(Ordering::Relaxed),
            streams: self.stats.streams.load(Ordering::Relaxed),
            objects_by_type,
            transfers_undone: self.stats.undone.load(Ordering::Relaxed),
            leases: self.leases.count(),
            cycles_collected: self.stats.collected.load(Ordering::Relaxed),
        }
    }
}

impl Hosting for Shared {
    fn wrap(
        &self,
        type_id: &str,
        type_name: &str,
        value: Box<dyn std::any::Any + Send>,
    ) -> Result<(Arc<dyn ServerObject>, crate::table::Fingerprint), RemoteError> {
        self.registry.wrap(type_id, type_name, value)
    }

    fn lease(&self, object: manager_proto::ObjectId) -> Result<(), RemoteError> {
        self.leases.grant(object, &self.table)
    }

    fn server(&self) -> ServerId {
        self.server_id
    }

    fn address(&self) -> &Address {
        &self.address
    }
}
