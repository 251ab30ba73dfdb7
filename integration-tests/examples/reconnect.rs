//! A network blip, ridden out: a client with a reconnect policy keeps its session —
//! its queue reservations, its lock, its calls in flight — while the link to the
//! manager breaks and comes back. Python's proxies die with their connection
//! (python/cpython#87495); here the worker does not notice beyond a short delay.
//!
//! The link runs through a forwarder in this program that breaks it on command (on a
//! real network: a cable pulled, a Wi-Fi hand-over, a NAT that forgot the flow).
//!
//! ```text
//! cargo run --example reconnect
//! ```

use integration_tests::cutter::Cutter;
use manager_client::blocking::{Client, LockProxy, QueueProxy};
use manager_client::{ClientOptions, Reconnect};
use manager_server::{Builtin, Server};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .named_builtin("jobs", Builtin::Queue { maxsize: 0 })
        .named_builtin("results", Builtin::Queue { maxsize: 0 })
        .named_builtin("lock", Builtin::Lock)
        .start_blocking()?;
    let link = Cutter::start(&server.address().to_string());
    let options = ClientOptions { reconnect: Some(Reconnect::default()), ..ClientOptions::default() };
    let client = Client::connect_with(link.address.as_str(), server.authkey(), &options)?;
    let jobs: QueueProxy<u64> = client.named("jobs")?;
    let results: QueueProxy<u64> = client.named("results")?;
    let lock: LockProxy = client.named("lock")?;

    let feeder = Client::connect(server.address(), server.authkey())?;
    let feed: QueueProxy<u64> = feeder.named("jobs")?;
    for n in 1..=20 {
        feed.put(n)?;
    }
    lock.acquire()?;
    for done in 1..=20u64 {
        let job = jobs.get()?;
        results.put(job * job)?;
        if done % 5 == 0 {
            // The link breaks; the next call waits for the session to resume.
            link.cut();
            println!("link broken after {done} jobs");
        }
    }
    let collected: QueueProxy<u64> = feeder.named("results")?;
    let mut squares = Vec::new();
    while let Ok(x) = collected.get_timeout(Duration::from_millis(100)) {
        squares.push(x);
    }
    println!("links used: {}", link.forwarded());
    println!("lock still ours: {}", lock.locked()?);
    lock.release()?;
    println!("sum of squares 1..=20: {} (every job done once)", squares.iter().sum::<u64>());
    Ok(())
}
