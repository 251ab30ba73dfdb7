//! A pool of 5 worker processes runs 10 tasks submitted with `apply_async`; the main
//! process collects the results in order.
//!
//! ```text
//! cargo run --example pool_apply_async
//! ```
//!
//! The workers are this program started again: its `main` calls `serve_jobs` first,
//! which in a worker runs tasks and exits, and elsewhere returns at once. Python's
//! version:
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def f(x):
//!     return x * x
//!
//! if __name__ == '__main__':
//!     with Pool(processes=5) as pool:
//!         results = [pool.apply_async(f, (i,)) for i in range(10)]
//!         print([r.get(timeout=10) for r in results])
//! ```

use manager_client::blocking::{Client, Pool};
use manager_client::{PoolOptions, job, jobs, serve_jobs};
use manager_server::Server;
use std::time::Duration;

/// The job: runs in a worker process.
#[job]
fn f(x: u64) -> u64 {
    x * x
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    serve_jobs(jobs![f]);
    let server = Server::builder().start_blocking()?;
    let client = Client::connect(server.address(), server.authkey())?;
    let pool = Pool::new(&client, PoolOptions::default().processes(5))?;
    let results: Vec<_> = (0..10).map(|i| pool.apply_async::<f>(i)).collect();
    let squares = results.iter().map(|r| r.get(Some(Duration::from_secs(10)))).collect::<Result<Vec<_>, _>>()?;
    println!("{squares:?}");
    pool.close()?;
    pool.join()?;
    println!("{} workers, all gone", 5 - pool.pids().len());
    Ok(())
}
