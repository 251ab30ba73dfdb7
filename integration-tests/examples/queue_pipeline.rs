//! A producer process puts 10,000 integers into a shared queue; a consumer process
//! gets them until the sentinel, which the main process puts once the producer is done.
//! The consumer reports how many it got and their sum.
//!
//! ```text
//! cargo run --example queue_pipeline
//! ```
//!
//! A blocked `get` costs the server no thread. Python's classic producer/consumer over
//! `manager.Queue()`, with `None` as the sentinel:
//!
//! ```python
//! from multiprocessing import Manager, Process
//!
//! def producer(q):
//!     for i in range(10_000):
//!         q.put(i)
//!
//! def consumer(q):
//!     count = total = 0
//!     while (v := q.get()) is not None:
//!         count += 1
//!         total += v
//!     print(f'consumer: got {count} items, sum {total}')
//!
//! if __name__ == '__main__':
//!     with Manager() as manager:
//!         q = manager.Queue()
//!         c = Process(target=consumer, args=(q,))
//!         p = Process(target=producer, args=(q,))
//!         c.start()
//!         p.start()
//!         p.join()
//!         q.put(None)
//!         c.join()
//! ```

use manager_client::blocking::{Client, QueueProxy};
use manager_server::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(role) = std::env::args().nth(1) {
        let q: QueueProxy<Option<u64>> = Client::from_env()?.inherited("q")?;
        if role == "producer" {
            for i in 0..10_000 {
                q.put(Some(i))?;
            }
        } else {
            let (mut count, mut total) = (0, 0);
            while let Some(v) = q.get()? {
                count += 1;
                total += v;
            }
            println!("consumer: got {count} items, sum {total}");
        }
        return Ok(());
    }
    let server = Server::builder().start_blocking()?;
    let client = Client::connect(server.address(), server.authkey())?;
    let q = client.queue::<Option<u64>>(0)?;
    let c = client.worker().arg("consumer").proxy("q", &q).spawn()?;
    let p = client.worker().arg("producer").proxy("q", &q).spawn()?;
    p.join()?;
    q.put(None)?;
    c.join()?;
    Ok(())
}
