//! The interface the tests and examples share, and an older version of it. The current
//! one is a crate of its own, `counter-api` (depending on `manager-client` alone, as a
//! real interface crate does), re-exported here; the older one, the same id with a
//! changed signature, plays a client built before the interface changed.

pub use counter_api::{Counter, CounterBlockingProxy, CounterProxy};

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
