//! A shared interface as a crate of its own: the `#[shared]` trait a client and a
//! server both depend on, declared without any implementation. It depends on
//! `manager-client` alone: a client builds `CounterProxy` from it, and a server
//! registers its own type implementing `Counter` (see integration-tests'
//! `examples/interface_server.rs` and `tests/it/interfaces.rs`).

use manager_client::shared;

/// A counter that clients share: what every server's counter type must do.
#[shared(id = "demo.Counter")]
pub trait Counter {
    /// Starts at `start`.
    fn new(start: u64) -> Self
    where
        Self: Sized;

    /// Adds `by`; the new count. (`&self`: counting goes on while others wait.)
    fn incr(&self, by: u64) -> u64;

    /// The count.
    fn get(&self) -> u64;

    /// Takes `by` away, or says why not.
    fn take(&self, by: u64) -> Result<u64, String>;

    /// Sets the count back to zero; the count before.
    fn reset(&mut self) -> u64;

    /// Waits until the count is above `n`; the count then.
    async fn wait_above(&self, n: u64) -> u64;

    /// A helper of the implementations, not part of the interface.
    #[shared(skip)]
    fn describe(&self) -> String {
        format!("a counter at {}", self.get())
    }
}
