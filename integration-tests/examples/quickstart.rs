//! Quickstart: a manager and four worker processes sharing one counter.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! The main process hosts a `#[shared]` counter in a manager server, then starts four
//! workers — this same program, run again with its number (`client.worker()`) — each
//! handed a proxy to the counter, and each adds to it. The total is exact: every `add`
//! runs on the server, one at a time. Python's version registers the class with a `BaseManager`:
//!
//! ```python
//! from multiprocessing import Process
//! from multiprocessing.managers import BaseManager
//!
//! class Counter:
//!     def __init__(self):
//!         self.total = self.calls = 0
//!     def add(self, n):
//!         self.total += n
//!         self.calls += 1
//!         return self.total
//!     def report(self):
//!         return self.total, self.calls
//!
//! class MyManager(BaseManager):
//!     pass
//!
//! MyManager.register('Counter', Counter)
//!
//! def worker(counter, n):
//!     for i in range(1, 251):
//!         last = counter.add(i)
//!     print(f'worker {n}: the total was {last} after its last add')
//!
//! if __name__ == '__main__':
//!     with MyManager() as manager:
//!         counter = manager.Counter()
//!         ps = [Process(target=worker, args=(counter, n)) for n in range(1, 5)]
//!         for p in ps:
//!             p.start()
//!         for p in ps:
//!             p.join()
//!         total, calls = counter.report()
//!         print(f'manager: total {total} from {calls} adds by 4 workers')
//! ```

use manager_client::blocking::Client;
use manager_client::shared;
use manager_server::Server;

/// A counter that lives in the manager.
#[derive(Debug, Default)]
pub struct Counter {
    total: u64,
    calls: u64,
}

#[shared]
impl Counter {
    /// Adds `n`; returns the new total.
    pub fn add(&mut self, n: u64) -> u64 {
        self.total += n;
        self.calls += 1;
        self.total
    }

    /// The total and how many adds made it.
    pub fn report(&self) -> (u64, u64) {
        (self.total, self.calls)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(n) = std::env::args().nth(1) {
        let counter: CounterBlockingProxy = Client::from_env()?.inherited("counter")?;
        let last = (1..=250).try_fold(0, |_, i| counter.add(i))?;
        println!("worker {n}: the total was {last} after its last add");
        return Ok(());
    }
    let server = Server::builder().register::<Counter>().start_blocking()?;
    let client = Client::connect(server.address(), server.authkey())?;
    let counter = CounterBlockingProxy::create(&client)?;
    let exe = std::env::current_exe()?;
    let ps: Vec<_> =
        (1..=4).map(|n| client.child(&exe).arg(n.to_string()).proxy("counter", &counter).spawn()).collect();
    ps.into_iter().try_for_each(|p| p?.join())?;
    let (total, calls) = counter.report()?;
    println!("manager: total {total} from {calls} adds by 4 workers");
    Ok(())
}
