//! A client of `remote_server`, an unrelated program that knows only the address and
//! the key. It takes the shared RLock (twice: it is re-entrant), counts its visit in the
//! shared dict, prints the dict, and lets go.
//!
//! ```text
//! cargo run --example remote_client [-- --address tcp://HOST:PORT --key KEY] [--stop]
//! ```

use manager_client::blocking::{Client, DictProxy, RLockProxy};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remote_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: &str| {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
    };
    let address = value("--address", "tcp://127.0.0.1:50505");
    let key = value("--key", "remote-example-key");
    let client = Client::connect(address.as_str(), key.as_bytes())?;
    if args.iter().any(|a| a == "--stop") {
        client.shutdown_server()?;
        println!("remote_client: asked the server to stop");
        return Ok(());
    }
    let shared: DictProxy<String, u64> = client.named("shared")?;
    let guard: RLockProxy = client.named("guard")?;
    guard.acquire()?;
    guard.acquire()?; // re-entrant: the same owner may take it again
    let visits = shared.get("visits")?.unwrap_or(0) + 1;
    shared.insert("visits".into(), visits)?;
    shared.insert("last_pid".into(), u64::from(std::process::id()))?;
    let mut items = shared.snapshot()?;
    items.sort();
    guard.release()?;
    guard.release()?;
    println!("remote_client: visit {visits}: {items:?}");
    Ok(())
}
