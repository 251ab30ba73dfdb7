//! Clients on the manager's host talking to it through shared memory instead of the
//! socket: the same proxies, the same calls.
//!
//! ```text
//! cargo run --example shared_memory_connection
//! ```
//!
//! The server allows it (`shared_memory(true)`, `--shared-memory` for the standalone
//! server); a client asks with `ClientOptions::shared_memory`, and the children it
//! starts inherit the choice (`MANAGER_SHARED_MEMORY=1`). Two workers — this program
//! run again — push numbers through a queue to the parent, which sums them, while the
//! server lists every connection as one over shared memory.

use manager_client::ClientOptions;
use manager_client::blocking::{Client, QueueProxy};
use manager_server::Server;

const PER_WORKER: u64 = 10_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(n) = std::env::args().nth(1) {
        let n: u64 = n.parse()?;
        let queue: QueueProxy<u64> = Client::from_env()?.inherited("queue")?;
        for i in 0..PER_WORKER {
            queue.put(n * PER_WORKER + i)?;
        }
        return Ok(());
    }
    // A Unix socket in a fresh directory (the default), serving shared memory.
    let server = Server::builder().shared_memory(true).start_blocking()?;
    let options = ClientOptions { shared_memory: true, ..ClientOptions::default() };
    let client = Client::connect_with(server.address(), server.authkey(), &options)?;
    // Bounded: a worker cannot finish (and disconnect) before the parent has read most
    // of what it put.
    let queue = client.queue::<u64>(100)?;
    let workers: Vec<_> = (0..2).map(|n| client.worker().arg(n.to_string()).proxy("queue", &queue).spawn()).collect();
    let (mut sum, mut heard, mut over_shm) = (0, [false; 2], 0);
    for _ in 0..2 * PER_WORKER {
        let item = queue.get()?;
        sum += item;
        heard[(item / PER_WORKER) as usize % 2] = true;
        if heard == [true; 2] && over_shm == 0 {
            // Both workers are connected: count the server's shared-memory connections.
            over_shm = client.inspect_connections()?.iter().filter(|c| c.peer.ends_with("(shared memory)")).count();
        }
    }
    workers.into_iter().try_for_each(|w| w?.join())?;
    println!("got {} items summing to {sum}", 2 * PER_WORKER);
    println!("connections over shared memory while both workers ran: {over_shm}");
    Ok(())
}
