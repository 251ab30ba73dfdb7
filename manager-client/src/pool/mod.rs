//! A process pool of registered jobs (Python's `multiprocessing.Pool`): worker
//! processes pull tasks from a broker object on the manager server and run
//! [`#[job]`](crate::job) functions by name.
//!
//! Rust cannot ship a closure to another process, so a pool runs registered jobs: a
//! `#[job] fn square(x: u64) -> u64` is called as `pool.apply::<square>(7)`, typed at
//! the call site, and each worker lists the jobs it knows with
//! `serve_jobs(jobs![square])`, first thing in `main`.
//!
//! - [`Pool`] owns the broker and the worker processes (this program started again, or
//!   [`PoolOptions::program`]); [`PoolProxy`] submits (`apply`, `apply_async`, `map`,
//!   `imap`, `imap_unordered`, `starmap`), from the owner or any client that opens the
//!   pool by name or token; [`blocking::Pool`](crate::blocking::Pool) and
//!   [`blocking::PoolProxy`](crate::blocking::PoolProxy) do the same without an async
//!   runtime.
//! - Better than Python: a worker killed or crashed mid-task fails that task with
//!   `WorkerLost` naming the job and the pid (or retries it once, by option), and is
//!   replaced; Python's pool hangs for ever there. A job's panic fails its task with
//!   `Panicked` and the worker goes on.
//! - Workers anywhere: a process on another host with the server's address and key
//!   (`MANAGER_ADDRESS`, `MANAGER_AUTHKEY`) joins a pool bound to a name with
//!   [`run_worker`]`(jobs![..], "name", None)`.

use manager_proto::Error;
use manager_proto::pool::Job;

mod blocking;
mod owner;
mod proxy;
mod results;
mod worker;

pub use blocking::{BlockingPool, BlockingPoolProxy};
pub use owner::{Pool, PoolOptions};
pub use proxy::{PoolProxy, WINDOW};
pub use results::{AsyncResult, Imap};
pub use worker::{Exit, Jobs, MAX_TASKS_ENV, OWNER_ENV, run_worker, serve_jobs};

/// Job `J`'s arguments, encoded for a worker.
pub(crate) fn encode_args<J: Job>(args: &J::Args) -> Result<Vec<u8>, Error> {
    manager_proto::postcard::to_allocvec(args)
        .map_err(|e| Error::Encode { what: format!("the arguments of job `{}`", J::NAME), reason: e.to_string() })
}
