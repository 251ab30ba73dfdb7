//! Ten worker processes each write `d[i] = i * 2` into one shared dict; the main
//! process prints all ten pairs.
//!
//! ```text
//! cargo run --example dict_workers
//! ```
//!
//! Python's version: `d = manager.dict()` and ten `Process(target=f, args=(d, i))`.

use manager_client::blocking::{Client, DictProxy};
use manager_server::{Builtin, Server};
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("worker") => {
            let i: u32 = args.get(2).ok_or("worker needs its number")?.parse()?;
            let client = Client::from_env()?;
            let d: DictProxy<u32, u32> = client.named("d")?;
            d.insert(i, i * 2)?;
            Ok(())
        }
        _ => manager(),
    }
}

fn manager() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(Server::builder().named_builtin("d", Builtin::Dict).start())?;
    let client = Client::connect(server.address(), server.authkey())?;
    let mut workers = Vec::new();
    for i in 0..10 {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["worker", &i.to_string()]);
        client.configure_child(&mut cmd);
        workers.push(cmd.spawn()?);
    }
    for mut w in workers {
        if !w.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    let d: DictProxy<u32, u32> = client.named("d")?;
    let mut pairs = d.items()?;
    pairs.sort();
    for (k, v) in &pairs {
        println!("{k}: {v}");
    }
    rt.block_on(server.shutdown());
    if pairs != (0..10).map(|i| (i, i * 2)).collect::<Vec<_>>() {
        return Err(format!("unexpected contents: {pairs:?}").into());
    }
    Ok(())
}
