//! The manager server: hosts shared objects — your `#[shared]` types and the built-in
//! dict, list, queue, lock, … — for clients in other processes and on other hosts.
//!
//! ```
//! use manager_server::{shared, Server};
//!
//! #[derive(Default)]
//! pub struct Counter { n: u64 }
//!
//! #[shared]
//! impl Counter {
//!     pub fn incr(&mut self, by: u64) -> u64 { self.n += by; self.n }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder()
//!     .register::<Counter>()                 // clients may create Counters
//!     .named("hits", Counter::default())      // and all share this one
//!     .start()
//!     .await?;
//! println!("serving at {} ({} objects)", server.address(), server.stats().objects);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The rules:
//! - One task per connection reads, runs and answers; a call that must wait (an
//!   `async` method, a blocked `get`) parks as a future on that task and holds up
//!   nothing else.
//! - A connection's references, parked calls and locks are released when it ends,
//!   however it ends: a crashed client leaks nothing and deadlocks no one.
//! - A panicking method answers `Panicked`; the server goes on.
//! - Streams (iterator methods, live iteration, watches) are produced a batch at a time
//!   while the client has room for more, on the connection's task; a slow reader makes
//!   the server buffer nothing, a slow watcher never holds up a writer (it is told what
//!   it missed), and a stream's producer is dropped when its client drops it or goes.
//! - Bad input gets an error reply or a closed connection, never a panic: frames are
//!   size-checked before they are read, and unauthenticated peers get nothing but a
//!   challenge.
//! - `tls://` listeners ([`ServerBuilder::listen_tls`] with a [`ServerTls`]: a
//!   certificate and key, optionally a CA client certificates must chain to) run TLS
//!   first, then the same key handshake inside it.
//!
//! What the authkey protects and what it does not, what TLS adds, and how to run
//! across hosts is in [`security`].
//!
//! # Features
//!
//! - `cli` (off by default): the standalone `manager-server` binary, which hosts the
//!   built-in types with no user code
//!   (`cargo run --release -p manager-server --features cli -- --help`). It adds the
//!   binary's own dependencies — `clap`, `tracing-subscriber`, tokio's multi-threaded
//!   runtime and signal handling — which a program embedding the library does not need.

mod auth;
mod blocking;
mod builder;
mod builtins;
mod census;
mod child;
mod collect;
mod config;
mod connection;
mod ended;
mod error;
/// The `live_requests` fuzz target's harness (see `fuzz/`): not part of the API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod hash;
mod inspect;
mod leases;
mod limits;
mod listener;
mod liveness;
mod local;
mod memory;
mod object;
mod random;
mod registry;
mod rings;
pub mod security;
mod server;
mod session;
mod sessions;
mod startup;
mod state;
mod stream;
mod table;
mod tls;
mod tls_session;
mod user_object;
mod user_stream;
mod waiting;
mod watch;

pub use blocking::BlockingServer;
pub use builder::ServerBuilder;
pub use child::ChildServer;
pub use error::ServerError;
pub use server::Server;
pub use startup::{Builtin, Startup};
pub use tls::ServerTls;

pub use manager_derive::{job, shared};
pub use manager_proto as proto;
/// The async stream trait (`futures_core::Stream`): a `#[shared]` method returning
/// `impl Stream<Item = T>` is a stream method, its items sent as they become ready.
pub use manager_proto::stream::Stream;
pub use manager_proto::{
    Address, AuthKey, Bytes, Error, RemoteError, RemoteErrorKind, ServerStats, Shared, Token, serde,
};
