//! The same client for code without an async runtime.
//!
//! A thin layer: a blocking [`Client`] owns a single-threaded tokio runtime and drives
//! the async client on it from the calling thread, so a call costs no thread hand-off.
//! On the common path the runtime is not even entered: the calling thread sends its
//! request and sleeps in `recv` on the socket until its response comes (two syscalls
//! per call, as a hand-written blocking client). Several threads may share one client;
//! their calls multiplex on its connection, and whichever thread is reading routes the
//! others' responses to them.
//!
//! ```
//! use manager_client::blocking::Client;
//! # use manager_client::shared;
//! # #[derive(Default)] pub struct Counter { n: u64 }
//! # #[shared] impl Counter { pub fn incr(&mut self, by: u64) -> u64 { self.n += by; self.n } }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // A server in this process, on a runtime of its own (usually another process).
//! # let rt = tokio::runtime::Runtime::new()?;
//! # let server = rt.block_on(
//! #     manager_server::Server::builder().named("counter", Counter::default()).start(),
//! # )?;
//! # let (address, key) = (server.address().clone(), server.authkey().clone());
//! // The manager's address and key (a child process started with `configure_child`
//! // finds them with `Client::from_env()`).
//! let client = Client::connect(&address, key.as_bytes())?;
//! let counter: CounterBlockingProxy = client.named("counter")?;
//! assert_eq!(counter.incr(1)?, 1);
//! assert_eq!(counter.incr(2)?, 3);
//! # drop((counter, client));
//! # rt.block_on(server.shutdown());
//! # Ok(()) }
//! ```
//!
//! Blocking proxies must not be used on a thread that runs async tasks (that would
//! stall it); there they return an error. Use the async proxies there; `spawn_blocking`
//! threads may block and are fine.

mod child;
pub(crate) mod client;
mod runtime;

pub use crate::builtins::blocking::*;
pub use crate::pool::{BlockingPool as Pool, BlockingPoolProxy as PoolProxy};
pub use crate::shm::BlockingSharedMemoryProxy as SharedMemoryProxy;
pub use child::{ChildBuilder, Worker};
pub use client::Client;
pub use manager_proto::BlockingStream;
