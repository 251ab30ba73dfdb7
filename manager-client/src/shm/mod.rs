//! Shared memory managed by the server (Python's `SharedMemoryManager`): blocks the
//! server creates and owns, mapped by any client on its host, freed by the usual
//! reference counting.
//!
//! - [`SharedMemoryProxy`] (`proxy.rs`): the block's proxy, and `map`;
//! - [`SharedMemory`] (`memory.rs`): a mapping, with safe byte copies;
//! - [`SharedSlice`] (`slice.rs`): a typed view for `bytemuck::Pod` values;
//! - [`ShareableList`] (`list.rs`): Python's `ShareableList`, with untorn reads;
//! - `open.rs`: reaching the block's descriptor through `/proc` and checking it;
//! - `region.rs`: the mapping itself — the only `unsafe` code, its invariants at its top;
//! - [`ShmError`] (`error.rs`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = manager_server::Server::builder().start().await?;
//! # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
//! use manager_client::bytemuck::{Pod, Zeroable};
//!
//! // A plain-data type of your own, derived through the re-export.
//! #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
//! #[bytemuck(crate = "manager_client::bytemuck")]
//! #[repr(C)]
//! struct Point { x: f32, y: f32 }
//!
//! let block = client.shared_memory(8 * 100).await?;
//! let points = block.map().await?.slice::<Point>()?;
//! points.set(7, Point { x: 1.0, y: 2.0 })?;
//! assert_eq!(points.get(7)?, Point { x: 1.0, y: 2.0 });
//! # server.shutdown().await;
//! # Ok(()) }
//! ```

mod error;
mod list;
mod memory;
mod open;
mod proxy;
pub(crate) mod region;
mod slice;

pub use error::ShmError;
pub use list::{ABANDONED, ShareableList};
pub use memory::SharedMemory;
pub use proxy::{BlockingSharedMemoryProxy, SharedMemoryProxy};
pub use slice::SharedSlice;
