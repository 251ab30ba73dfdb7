//! Times a producer process and a consumer process moving `N` items one per call through
//! a queue on a server at `MANAGER_ADDRESS` (for investigating queue throughput):
//!
//! ```text
//! MANAGER_ADDRESS=... MANAGER_AUTHKEY=... cargo run --release --example profile_queue -- 100000
//! ```

use manager_client::blocking::{Client, QueueProxy};
use std::process::Command;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let client = Client::from_env()?;
    match args.get(1).map(String::as_str) {
        Some("produce") => {
            let q: QueueProxy<Option<u64>> = client.attach(&token(&args[2])?)?;
            let n: u64 = args[3].parse()?;
            let start = Instant::now();
            for i in 0..n {
                q.put(Some(i))?;
                if i % 20000 == 0 {
                    println!("producer: {i} at {:?}, qsize {}", start.elapsed(), q.qsize()?);
                }
            }
            q.put(None)?;
            println!("producer: done in {:?}", start.elapsed());
        }
        Some("consume") => {
            let q: QueueProxy<Option<u64>> = client.attach(&token(&args[2])?)?;
            let start = Instant::now();
            let mut n = 0;
            while q.get()?.is_some() {
                n += 1;
                if n % 20000 == 0 {
                    println!("consumer: {n} at {:?}", start.elapsed());
                }
            }
            println!("consumer: {n} items in {:?}", start.elapsed());
        }
        Some("prefilled") => {
            let n: u64 = args[2].parse()?;
            let q = client.queue::<Option<u64>>(0)?;
            q.put_many((0..n).map(Some).chain([None]).collect())?;
            let start = Instant::now();
            let mut got = 0;
            while q.get()?.is_some() {
                got += 1;
            }
            println!("prefilled: {got} gets in {:?}", start.elapsed());
        }
        _ => {
            let n = args.get(1).cloned().unwrap_or_else(|| "100000".into());
            let q = client.queue::<Option<u64>>(0)?;
            let t = integration_tests::token_to_hex(&q.token());
            let exe = std::env::current_exe()?;
            let start = Instant::now();
            let mut c = Command::new(&exe).args(["consume", &t]).spawn()?;
            let mut p = Command::new(&exe).args(["produce", &t, &n]).spawn()?;
            p.wait()?;
            c.wait()?;
            println!("total {:?}", start.elapsed());
        }
    }
    Ok(())
}

fn token(hex: &str) -> Result<manager_client::Token, Box<dyn std::error::Error>> {
    Ok(integration_tests::token_from_hex(hex)?)
}
