//! An interface crate, as a module: the `#[shared]` trait a client and a server both
//! depend on, declared without any implementation. It names nothing but
//! `manager-client` (a real interface crate depends on that alone): a client builds
//! `CounterProxy` from it, and a server registers its own type implementing
//! `Counter` (`examples/interface_server.rs`, `tests/it/interfaces.rs`).

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

/// The interface as an older program declared it: the same id, but `incr` took and
/// returned `u32`. A client built from it must be refused by a server that implements
/// the current one, naming the method, before it writes or reads anything.
pub mod older {
    use manager_client::shared;

    /// The older `Counter`.
    #[shared(id = "demo.Counter")]
    pub trait Counter {
        /// Starts at `start`.
        fn new(start: u64) -> Self
        where
            Self: Sized;

        /// Adds `by`; the new count.
        fn incr(&self, by: u32) -> u32;

        /// The count.
        fn get(&self) -> u64;
    }
}
