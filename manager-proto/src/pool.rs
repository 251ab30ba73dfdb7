//! What a process pool's client, workers and broker agree on: the broker's method
//! contract (a server built-in, type id `"pool"`), the [`Job`] trait `#[job]`
//! implements, the task as it travels, and Python's chunk-size rule.
//!
//! A task is a job's name, its signature [fingerprint](Job::fingerprint), whether it is
//! a chunk (a `Vec` of argument values run in order, `map`'s unit of work) and its
//! encoded arguments. The broker never decodes arguments or outputs: it queues bytes,
//! hands them to workers, and answers the submitter with what the worker sent back.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::contract::WireAs;

/// The broker's type id.
pub const TYPE_ID: &str = "pool";

/// The environment variable that makes a process started by a pool run as one of its
/// workers: the pool's token (`mgr1-…`), read by `manager_client::serve_jobs`.
pub const WORKER_ENV: &str = "MANAGER_POOL_WORKER";

/// A job a pool can run: a function registered by name in its workers (what `#[job]`
/// generates from a plain `fn`). Callers name the job by type (`pool.apply::<square>(7)`),
/// so arguments and result are typed at the call site.
pub trait Job: 'static {
    /// The name the job travels under (the function's, unless `#[job(name = "..")]`).
    const NAME: &'static str;
    /// Its argument: the single argument's type, or a tuple of them (none: `()`).
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// What it returns (a `Result` is an ordinary output: errors stay typed).
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Runs it.
    fn run(args: Self::Args) -> Self::Output;
    /// A hash of the name and the argument and output types as `std::any::type_name`
    /// spells them: a worker whose `square` has another signature refuses the task
    /// instead of decoding garbage. (`type_name` may differ between compiler
    /// versions: build submitters and workers with one toolchain, or a task fails with
    /// a signature mismatch.)
    fn fingerprint() -> u64 {
        fingerprint(Self::NAME, std::any::type_name::<Self::Args>(), std::any::type_name::<Self::Output>())
    }
}

/// [`Job::fingerprint`] from its parts (64-bit FNV-1a over the three names).
pub fn fingerprint(name: &str, args: &str, output: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [name, "(", args, ")->", output] {
        for b in part.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Python's default chunk size for `map` over `len` values with `workers` processes:
/// `len / (4 × workers)`, rounded up (at least 1).
pub fn default_chunksize(len: usize, workers: usize) -> usize {
    let per = workers.max(1).saturating_mul(4);
    len.div_ceil(per).max(1)
}

/// A task as a worker receives it from `take`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The broker's number for it: what `done` names.
    pub id: u64,
    /// The job's name.
    pub job: String,
    /// The submitter's [`Job::fingerprint`].
    pub fingerprint: u64,
    /// Whether `args` is a `Vec` of argument values (one chunk of a `map`), run in order
    /// and answered with a `Vec` of outputs.
    pub chunk: bool,
    /// The encoded arguments.
    #[serde(with = "serde_bytes")]
    pub args: Vec<u8>,
}

impl WireAs<Task> for Task {}

/// The broker's counters, as `stats` answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStats {
    /// Tasks waiting for a worker.
    pub queued: u64,
    /// Tasks workers have taken and not answered.
    pub running: u64,
    /// Worker connections registered (`hello`) and not gone.
    pub workers: u64,
    /// Tasks answered with an output.
    pub done: u64,
    /// Tasks answered with an error (lost, panicked, refused, terminated).
    pub failed: u64,
    /// Whether the pool was closed (or terminated): no new tasks.
    pub closed: bool,
    /// Whether it was terminated.
    pub terminated: bool,
}

impl WireAs<PoolStats> for PoolStats {}

/// What a worker learns from `hello`: the initializer to run once (job name, empty for
/// none; fingerprint; encoded arguments).
pub type Initializer = (String, u64, Vec<u8>);

contract! {
    /// The broker's methods. Submitters call `apply`; workers `hello`, then `take` and
    /// `done`; the owner `close`, `terminate`, `join`; anyone `stats`.
    pub mod methods("Pool") {
        /// The initializer (job name, empty for none; its fingerprint; its encoded
        /// arguments) and whether a task whose worker was lost is retried once.
        new (String, u64, Vec<u8>, bool);
        /// Runs a task (job name, fingerprint, chunk, encoded arguments); answered with
        /// the worker's encoded output when it is done. Parks until then.
        Apply = "apply": (String, u64, bool, Vec<u8>) => Vec<u8>;
        /// Registers the calling connection as a worker with its pid; the initializer.
        Hello = "hello": (u64,) => (String, u64, Vec<u8>);
        /// Up to `max` tasks (parks while none is queued); none means "exit": the pool
        /// was closed and drained, or terminated.
        Take = "take": (u64,) => Vec<super::Task>;
        /// Task `id`'s outcome: error kind code (0: success), the encoded output, and
        /// the error's message.
        Done = "done": (u64, u64, Vec<u8>, String) => ();
        /// No new tasks; workers exit once the queue is drained.
        Close = "close": () => ();
        /// Queued and running tasks fail, workers exit; why (empty: someone asked),
        /// which the tasks' errors repeat.
        Terminate = "terminate": (String,) => ();
        /// Waits (at most the timeout, in seconds) until the pool is closed or
        /// terminated, no task is left and no worker is registered; whether it is so.
        Join = "join": (Option<f64>,) => bool;
        /// The counters.
        Stats = "stats": () => super::PoolStats;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunksize_is_pythons() {
        // Python: divmod(len, 4 * processes), plus one if there is a remainder.
        assert_eq!(default_chunksize(100_000, 2), 12_500);
        assert_eq!(default_chunksize(10, 5), 1);
        assert_eq!(default_chunksize(21, 5), 2);
        assert_eq!(default_chunksize(0, 4), 1);
    }

    #[test]
    fn fingerprints_tell_signatures_apart() {
        assert_ne!(fingerprint("square", "u64", "u64"), fingerprint("square", "u32", "u64"));
        assert_ne!(fingerprint("square", "u64", "u64"), fingerprint("cube", "u64", "u64"));
        assert_eq!(fingerprint("a", "b", "c"), fingerprint("a", "b", "c"));
    }
}
