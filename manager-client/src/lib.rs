//! The client of the Rust managers: connect to a manager server and call shared
//! objects — your `#[shared]` types and the built-ins — through typed proxies.
//!
//! ```no_run
//! use manager_client::{shared, Client};
//!
//! #[derive(Default)]
//! pub struct Counter { n: u64 }
//!
//! #[shared]
//! impl Counter {
//!     pub fn incr(&mut self, by: u64) -> u64 { self.n += by; self.n }
//! }
//!
//! # async fn f() -> Result<(), manager_client::Error> {
//! let client = Client::from_env().await?;                // MANAGER_ADDRESS, MANAGER_AUTHKEY
//! let counter: CounterProxy = client.named("counter").await?;
//! let n = counter.incr(1).await?;                        // runs on the server
//! let mine = CounterProxy::create(&client).await?;       // a new Counter, ours
//! let token = mine.token();                              // leased: good for 30 s
//! let text = token.to_string();                          // "mgr1-...", for argv or env
//! # let _ = (n, text); Ok(()) }
//! ```
//!
//! The rules:
//! - One connection per [`Client`], multiplexed: calls from many tasks share it, in
//!   flight together; a call blocked on the server holds up no other.
//! - Proxies are `Clone + Send + Sync`; clones share one server reference, and the
//!   object lives while any proxy in any process (or a name, or a container) holds it,
//!   or a token's lease: a minted token keeps its object for the server's token lease
//!   (30 s by default), so a child can attach it after the parent dropped its proxy
//!   (`client.pass_proxy(&mut cmd, "name", &proxy)`, `client.inherited("name")`).
//! - Dropping a pending call cancels it on the server.
//! - Sequences stream: a `#[shared]` method returning `impl Iterator` (or `impl
//!   Stream`) gives a [`RemoteStream`]; `iter()` on a list, dict or set and a dict's
//!   `keys()`, `values()`, `items()` read live with Python's semantics ([`Elements`]);
//!   `watch()` on the built-ins and on `#[shared(watch)]` types brings the state, then
//!   every change in order ([`watch`]). Items arrive in batches as they are read, the
//!   server never buffers for a slow reader, and dropping a stream stops it on the
//!   server. Blocking proxies return the same streams as iterators.
//! - If the server goes away, calls in flight fail at once and later calls fail fast
//!   with [`Error::ConnectionLost`].
//! - `tls://host:port` addresses encrypt the connection and check the server's
//!   certificate ([`ClientTls`]: a CA file or a pinned certificate, and a client
//!   certificate for servers that require one); `Client::from_env` reads
//!   `MANAGER_TLS_CA` (and `MANAGER_TLS_CERT`/`MANAGER_TLS_KEY`) and children are
//!   handed the same files. The key is still checked inside.
//! - A process [`Pool`] runs registered jobs (`#[job] fn square(x: u64) -> u64`) in
//!   worker processes fed through the server: `pool.apply::<square>(7)`, `map`,
//!   `apply_async`, `imap`; a worker killed mid-task fails that task with `WorkerLost`
//!   and is replaced (see [`pool`]).
//! - [`blocking`] offers the same without an async runtime, and starts a child with the
//!   server and proxies handed over in one line
//!   (`client.worker().arg(i).proxy("d", &d).spawn()?.join()?`).
//!
//! This crate does not depend on `manager-server`: a program that only uses shared
//! objects compiles no server code.

pub mod blocking;
mod builtins;
mod client;
mod connection;
mod current;
pub mod env;
mod handshake;
mod in_flight;
mod introspection;
mod names;
mod options;
pub mod pool;
mod rebind;
mod rings;
mod session;
pub mod shm;
mod stream;
mod tls;
mod tls_session;

pub use builtins::Data;
pub use builtins::proxies::*;
pub use builtins::watch;
/// The `bytemuck` the typed shared memory views take: derive `Pod` through it
/// (`#[bytemuck(crate = "manager_client::bytemuck")]`) to match its version.
pub use bytemuck;
pub use client::{Client, ClientOptions};
pub use names::{ToAddress, ToToken};
pub use pool::{AsyncResult, Imap, Jobs, Pool, PoolOptions, PoolProxy, run_worker, serve_jobs};
pub use session::Reconnect;
pub use shm::{ShareableList, SharedMemory, SharedMemoryProxy, SharedSlice, ShmError};
pub use tls::ClientTls;

pub use manager_derive::{job, shared};
pub use manager_proto as proto;
/// What [`Client::inspect_objects`] and [`Client::inspect_connections`] report.
pub use manager_proto::inspect;
/// The async stream trait (`futures_core::Stream`): what a [`RemoteStream`] implements,
/// and what a `#[shared]` method returning `impl Stream<Item = T>` returns.
pub use manager_proto::stream::Stream;
pub use manager_proto::{
    Address, AuthKey, BlockingProxy, Bytes, Error, Handle, Lost, Proxy, RemoteError, RemoteErrorKind, RemoteStream,
    ServerStats, Shared, Token, TokenError, TypeDescription, serde,
};
