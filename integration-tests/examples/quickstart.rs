//! Quickstart: a manager and four worker processes sharing one counter.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! The main process hosts a `#[shared]` counter in a manager server, then starts four
//! workers — this same program, run again with `worker N` — that connect with the
//! address and key it hands them through their environment, and each add to the
//! counter. The total is exact: every `add` runs on the server, one at a time.

use manager_client::{blocking, shared};
use manager_server::Server;
use std::process::Command;

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

const WORKERS: u64 = 4;
const ADDS: u64 = 250;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("worker") => worker(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0)),
        _ => manager(),
    }
}

/// The manager: host the counter, run the workers, print the total.
fn manager() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(Server::builder().named("counter", Counter::default()).start())?;
    println!("manager: serving at {}", server.address());

    let client = blocking::Client::connect(server.address(), server.authkey())?;
    let mut children = Vec::new();
    for n in 1..=WORKERS {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["worker", &n.to_string()]);
        client.configure_child(&mut cmd); // MANAGER_ADDRESS, MANAGER_AUTHKEY
        children.push(cmd.spawn()?);
    }
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a worker failed: {status}").into());
        }
    }

    let counter: CounterBlockingProxy = client.named("counter")?;
    let (total, calls) = counter.report()?;
    println!(
        "manager: total {total} from {calls} adds by {WORKERS} workers (expected {})",
        WORKERS * ADDS * (ADDS + 1) / 2
    );
    rt.block_on(server.shutdown());
    Ok(())
}

/// A worker: connect from the environment, add 1, 2, …, ADDS, report.
fn worker(n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let client = blocking::Client::from_env()?;
    let counter: CounterBlockingProxy = client.named("counter")?;
    let mut added = 0;
    let mut last = 0;
    for i in 1..=ADDS {
        last = counter.add(i)?;
        added += i;
    }
    println!(
        "worker {n} (pid {}): added {added} in {ADDS} calls; the total was {last} after its last add",
        std::process::id()
    );
    Ok(())
}
