//! Types for the tests of typed objects across processes (`tests/it/typing.rs`): a
//! message type for queues, and two programs' idea of one `#[shared]` type — the same
//! id, a method whose types differ — as two binaries built from different sources
//! would have it.

use manager_client::shared;
use serde::{Deserialize, Serialize};

/// A queue message, not a number: a `QueueProxy<u64>` must not read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg {
    /// Who sent it.
    pub from: String,
    /// What it says.
    pub seq: u32,
}

/// The meter as one program builds it.
pub mod meter_a {
    use super::*;

    /// Counts up in unsigned steps.
    #[derive(Debug, Default)]
    pub struct Meter {
        total: u64,
    }

    #[shared(id = "tests::Meter")]
    impl Meter {
        /// Adds `by`; the new total.
        pub fn add(&mut self, by: u64) -> u64 {
            self.total += by;
            self.total
        }
        /// The total.
        pub fn read(&self) -> u64 {
            self.total
        }
    }
}

/// The meter as another program builds it: the same id, but `add` takes and returns
/// signed numbers (same-shaped on the wire for small values, so only the fingerprint
/// can tell).
pub mod meter_b {
    use super::*;

    /// Counts in signed steps.
    #[derive(Debug, Default)]
    pub struct Meter {
        total: i64,
    }

    #[shared(id = "tests::Meter")]
    impl Meter {
        /// Adds `by`; the new total.
        pub fn add(&mut self, by: i64) -> i64 {
            self.total += by;
            self.total
        }
        /// The total.
        pub fn read(&self) -> u64 {
            self.total.unsigned_abs()
        }
    }
}

/// A type whose id is given on the impl block: moving it to another module keeps it.
#[derive(Debug, Default)]
pub struct Renamed {
    calls: u64,
}

#[shared(id = "tests.renamed-v1")]
impl Renamed {
    /// Counts calls.
    pub fn call(&mut self) -> u64 {
        self.calls += 1;
        self.calls
    }
}
