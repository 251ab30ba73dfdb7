//! `map` over a range on a pool of worker processes: the outputs come back in order,
//! the arguments having travelled in chunks (Python's default chunk size).
//!
//! ```text
//! cargo run --example pool_map
//! ```
//!
//! Async this time (the blocking pool is in `pool_apply_async.rs`). Python's version:
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def square(x):
//!     return x * x
//!
//! if __name__ == '__main__':
//!     with Pool(4) as pool:
//!         print(pool.map(square, range(10)))
//!         print(sum(pool.map(square, range(100000))))
//! ```

use manager_client::{Client, Pool, PoolOptions, job, jobs, serve_jobs};
use manager_server::Server;

/// The job: runs in a worker process.
#[job]
fn square(x: u64) -> u64 {
    x * x
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In a worker this serves `square` (on a thread of its own) and exits.
    serve_jobs(jobs![square]);
    let server = Server::builder().start().await?;
    let client = Client::connect(server.address(), server.authkey()).await?;
    let pool = Pool::new(&client, PoolOptions::default().processes(4)).await?;
    println!("{:?}", pool.map::<square>(0..10).await?);
    println!("{}", pool.map::<square>(0..100_000).await?.iter().sum::<u64>());
    pool.close().await?;
    pool.join().await?;
    Ok(())
}
