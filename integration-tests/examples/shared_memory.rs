//! A block of shared memory the server owns: the main process fills it with a million
//! `f64`s, four worker processes each map it and sum their quarter, and report through
//! a shared list. Nothing is copied through the server: each worker reads the block in
//! place (`SharedSlice<f64>`).
//!
//! ```text
//! cargo run --example shared_memory
//! ```
//!
//! A worker is this program run again with its number; it gets the block as a proxy
//! handed over (`.proxy("block", &block)`, then `inherited("block")`). When every
//! process has dropped its proxy — or was killed — the server frees the block; nothing
//! is ever left in `/dev/shm`. Python's version:
//!
//! ```python
//! import array
//! from multiprocessing import Manager, Process
//! from multiprocessing.managers import SharedMemoryManager
//! from multiprocessing.shared_memory import SharedMemory
//!
//! N, WORKERS = 1_000_000, 4
//!
//! def part(name, i, results):
//!     shm = SharedMemory(name)          # by name, in /dev/shm
//!     xs = shm.buf.cast('d')
//!     results.append((i, sum(xs[i * N // WORKERS:(i + 1) * N // WORKERS])))
//!     del xs; shm.close()
//!
//! if __name__ == '__main__':
//!     with SharedMemoryManager() as smm, Manager() as m:
//!         shm = smm.SharedMemory(N * 8)
//!         shm.buf.cast('d')[:] = array.array('d', range(N))
//!         results = m.list()
//!         ps = [Process(target=part, args=(shm.name, i, results)) for i in range(WORKERS)]
//!         ...
//! ```

use manager_client::blocking::{Client, ListProxy, SharedMemoryProxy};
use manager_server::Server;

const N: usize = 1_000_000;
const WORKERS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(i) = std::env::args().nth(1) {
        let i: usize = i.parse()?;
        let client = Client::from_env()?;
        let block: SharedMemoryProxy = client.inherited("block")?;
        let results: ListProxy<(usize, f64)> = client.inherited("results")?;
        let xs = block.map()?.slice::<f64>()?;
        let part = N / WORKERS;
        let mut mine = vec![0.0; part];
        xs.copy_to_slice(i * part, &mut mine)?;
        results.append((i, mine.iter().sum()))?;
        return Ok(());
    }
    let server = Server::builder().start_blocking()?;
    let client = Client::connect(server.address(), server.authkey())?;
    let block = client.shared_memory(N * 8)?;
    let xs = block.map()?.slice::<f64>()?;
    let values: Vec<f64> = (0..N).map(|i| i as f64).collect();
    xs.copy_from_slice(0, &values)?;
    let results = client.list::<(usize, f64)>()?;
    let ps: Vec<_> = (0..WORKERS)
        .map(|i| client.worker().arg(i.to_string()).proxy("block", &block).proxy("results", &results).spawn())
        .collect();
    ps.into_iter().try_for_each(|p| p?.join())?;
    let mut parts = results.copy()?;
    parts.sort_by_key(|(i, _)| *i);
    for (i, sum) in &parts {
        println!("worker {i}: {sum}");
    }
    let total: f64 = parts.iter().map(|(_, s)| s).sum();
    println!("total: {total} (expected {})", (N * (N - 1) / 2) as f64);
    Ok(())
}
