//! Shared types and helpers for the integration tests, the worker binary they spawn,
//! and the examples.
// Test support: a panic here is a failed test or a failed demo, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod accounts;
pub mod cutter;
pub mod interface;
pub mod jobs;
pub mod streams;

use manager_client::shared;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub mod typing;

/// A counter, as in the README.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counter {
    n: u64,
}

/// Errors of [`Counter::checked_sub`].
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum CounterError {
    /// Would go below zero.
    Underflow { have: u64, wanted: u64 },
}

impl std::fmt::Display for CounterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CounterError::Underflow { have, wanted } => {
                write!(f, "cannot take {wanted} from {have}")
            }
        }
    }
}

#[shared]
impl Counter {
    /// Starts at `start`.
    pub fn new(start: u64) -> Self {
        Counter { n: start }
    }

    /// Adds `by`; returns the new value.
    pub fn incr(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }

    /// The value.
    pub fn get(&self) -> u64 {
        self.n
    }

    /// Subtracts, or says why not.
    pub fn checked_sub(&mut self, by: u64) -> Result<u64, CounterError> {
        if by > self.n {
            return Err(CounterError::Underflow { have: self.n, wanted: by });
        }
        self.n -= by;
        Ok(self.n)
    }

    /// Panics, to test that the server survives it.
    pub fn boom(&self, message: String) -> u64 {
        panic!("{message}");
    }

    /// Sleeps on the server without blocking anything else, then returns the value.
    pub async fn slow_get(&self, millis: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        self.n
    }

    /// Exposed under another name.
    #[shared(rename = "reset")]
    pub fn reset_to_zero(&mut self) {
        self.n = 0;
    }

    /// Public, but not exposed.
    #[shared(skip)]
    pub fn local_only(&self) -> u64 {
        self.n
    }

    fn private_helper(&self) -> u64 {
        self.n
    }

    /// Uses the private helper (so it is not dead code).
    pub fn doubled(&self) -> u64 {
        self.private_helper() * 2
    }
}

/// A gate that async methods wait on: blocked calls for the shutdown and cancel tests.
#[derive(Debug)]
pub struct Gate {
    open: tokio::sync::watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate { open: tokio::sync::watch::channel(false).0 }
    }
}

#[shared]
impl Gate {
    /// Waits until the gate opens; `true` once it has.
    pub async fn wait_open(&self) -> bool {
        let mut rx = self.open.subscribe();
        rx.wait_for(|open| *open).await.is_ok()
    }

    /// Opens the gate.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Whether anyone is waiting.
    pub fn waiters(&self) -> u64 {
        self.open.receiver_count() as u64
    }
}

/// The first version of a type whose methods grow: clients built against it must keep
/// working against a server that hosts the later version.
pub mod v1 {
    use super::*;

    /// Version 1.
    #[derive(Debug, Default)]
    pub struct Evolving {
        pub(crate) n: i64,
    }

    #[shared(id = "tests::Evolving")]
    impl Evolving {
        /// Adds.
        pub fn add(&mut self, by: i64) -> i64 {
            self.n += by;
            self.n
        }
        /// Reads.
        pub fn get(&self) -> i64 {
            self.n
        }
    }
}

/// The second version: methods added before, between and after the old ones.
pub mod v2 {
    use super::*;

    /// Version 2.
    #[derive(Debug, Default)]
    pub struct Evolving {
        n: i64,
        log: Vec<String>,
    }

    #[shared(id = "tests::Evolving")]
    impl Evolving {
        /// New in v2.
        pub fn note(&mut self, s: String) {
            self.log.push(s);
        }
        /// Adds.
        pub fn add(&mut self, by: i64) -> i64 {
            self.n += by;
            self.n
        }
        /// New in v2.
        pub fn notes(&self) -> Vec<String> {
            self.log.clone()
        }
        /// Reads.
        pub fn get(&self) -> i64 {
            self.n
        }
        /// New in v2.
        pub fn negate(&mut self) -> i64 {
            self.n = -self.n;
            self.n
        }
    }
}

/// A type whose id comes from the struct-level attribute (in its older spelling,
/// `type_id`, which stays accepted).
#[shared(type_id = "tests::Tagged")]
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Tagged {
    /// Its label.
    pub label: String,
}

#[shared]
impl Tagged {
    /// Sets the label.
    pub fn set(&mut self, label: String) {
        self.label = label;
    }
}

/// A token as hex text, to hand to another process on a command line or a pipe.
pub fn token_to_hex(token: &manager_client::Token) -> String {
    // ok: a Token is plain data (strings and integers); postcard cannot fail on it.
    // ok: a token is integers and strings, which postcard always encodes into a Vec.
    let bytes = manager_client::proto::postcard::to_allocvec(token).expect("a token always encodes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The inverse of [`token_to_hex`]; text that is not a token's hex is an error.
pub fn token_from_hex(hex: &str) -> Result<manager_client::Token, String> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return Err(format!("not a token's hex: {hex:?}"));
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| format!("not a token's hex: {e}"))?;
    manager_client::proto::postcard::from_bytes(&bytes).map_err(|e| format!("not a token: {e}"))
}

/// Sets up `tracing` output from `RUST_LOG` (for binaries and examples).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}
