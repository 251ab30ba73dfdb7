//! A producer process puts 10,000 integers into a named queue; a consumer process gets
//! them until a sentinel; a third process sends the sentinel once the producer is done.
//! The consumer reports how many it got.
//!
//! ```text
//! cargo run --example queue_pipeline
//! ```
//!
//! Python's classic producer/consumer over `manager.Queue()`, with `None` as the
//! sentinel. A blocked `get` costs the server no thread.

use manager_client::blocking::{Client, QueueProxy};
use manager_server::{Builtin, Server};
use std::process::Command;

const ITEMS: u64 = 10_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("producer") => {
            let q = queue()?;
            for i in 0..ITEMS {
                q.put(Some(i))?;
            }
            println!("producer: put {ITEMS} items");
            Ok(())
        }
        Some("consumer") => {
            let q = queue()?;
            let (mut count, mut sum) = (0u64, 0u64);
            while let Some(v) = q.get()? {
                count += 1;
                sum += v;
            }
            println!("consumer: got {count} items, sum {sum}");
            if count != ITEMS || sum != ITEMS * (ITEMS - 1) / 2 {
                return Err("items were lost or duplicated".into());
            }
            Ok(())
        }
        Some("stopper") => {
            queue()?.put(None)?;
            println!("stopper: sent the sentinel");
            Ok(())
        }
        _ => manager(),
    }
}

fn queue() -> Result<QueueProxy<Option<u64>>, Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    Ok(client.named("numbers")?)
}

fn manager() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(Server::builder().named_builtin("numbers", Builtin::Queue { maxsize: 0 }).start())?;
    let client = Client::connect(server.address(), server.authkey())?;
    let run = |role: &str| -> Result<std::process::Child, Box<dyn std::error::Error>> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg(role);
        client.configure_child(&mut cmd);
        Ok(cmd.spawn()?)
    };
    let mut consumer = run("consumer")?;
    let mut producer = run("producer")?;
    if !producer.wait()?.success() {
        return Err("the producer failed".into());
    }
    if !run("stopper")?.wait()?.success() {
        return Err("the stopper failed".into());
    }
    let ok = consumer.wait()?.success();
    rt.block_on(server.shutdown());
    if !ok {
        return Err("the consumer failed".into());
    }
    Ok(())
}
