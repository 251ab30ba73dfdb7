//! The server half of an interface shared between programs: it implements
//! `counter_api::Counter` (the interface crate, `integration-tests/counter-api`) with
//! a type of its own, registers it, and names one `hits`. `interface_client` uses it
//! knowing only the trait.
//!
//! ```text
//! cargo run --example interface_server                   # tcp://127.0.0.1:50506
//! cargo run --example interface_client                   # as many times as you like
//! cargo run --example interface_client -- --stop         # stops the server
//! ```
//!
//! In a real project these are three crates: the interface (`counter-api`, depending
//! on `manager-client` only), this server (the interface and `manager-server`), and
//! the client (the interface only); here the two programs are examples of one package.
//! Options: `--address tcp://HOST:PORT`, `--key KEY`.

use counter_api::Counter;
use manager_server::{Server, shared};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// This server's counter: an atomic, and a notification for waiters.
#[derive(Debug, Default)]
pub struct AtomicCounter {
    n: AtomicU64,
    changed: Notify,
}

#[shared]
impl Counter for AtomicCounter {
    fn new(start: u64) -> Self {
        AtomicCounter { n: AtomicU64::new(start), changed: Notify::new() }
    }

    fn incr(&self, by: u64) -> u64 {
        let n = self.n.fetch_add(by, Ordering::SeqCst) + by;
        self.changed.notify_waiters();
        n
    }

    fn get(&self) -> u64 {
        self.n.load(Ordering::SeqCst)
    }

    fn take(&self, by: u64) -> Result<u64, String> {
        let taken = self.n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(by));
        taken.map(|before| before - by).map_err(|have| format!("only {have} to take"))
    }

    fn reset(&mut self) -> u64 {
        std::mem::take(self.n.get_mut())
    }

    async fn wait_above(&self, n: u64) -> u64 {
        loop {
            let changed = self.changed.notified();
            let now = self.get();
            if now > n {
                return now;
            }
            changed.await;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: &str| {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
    };
    let (address, key) = (value("--address", "tcp://127.0.0.1:50506"), value("--key", "interface-example-key"));
    let server = Server::builder()
        .listen_tcp(address.trim_start_matches("tcp://"))
        .authkey(key.as_bytes())
        .register::<AtomicCounter>()
        .named("hits", AtomicCounter::new(0))
        .allow_remote_shutdown(true)
        .start()
        .await?;
    println!("interface_server: listening on {}", server.address());
    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("interface_server: interrupted"),
        () = server.stopped() => println!("interface_server: a client asked me to stop"),
    }
    server.shutdown().await;
    Ok(())
}
