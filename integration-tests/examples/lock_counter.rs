//! Twenty processes each, under a shared `Lock`, increment a shared `Value`, add one
//! to every element of a shared list, and set a key in a shared dict. The value ends at
//! 20 and every list element at its start plus 20.
//!
//! ```text
//! cargo run --example lock_counter
//! ```
//!
//! Each worker reads and then writes (`v = value.get(); value.set(v + 1)`): without the
//! lock, updates would be lost (Python's managers lose about a fifth of them in the
//! same race). For this particular update, `value.fetch_add(1)` needs no lock at all.

use manager_client::blocking::{Client, DictProxy, ListProxy, LockProxy, ValueProxy};
use manager_server::{Builtin, Server};
use std::process::Command;

const WORKERS: u64 = 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("worker") => worker(args.get(2).ok_or("worker needs its number")?.parse()?),
        _ => manager(),
    }
}

fn worker(n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let lock: LockProxy = client.named("lock")?;
    let value: ValueProxy<u64> = client.named("value")?;
    let list: ListProxy<u64> = client.named("list")?;
    let dict: DictProxy<String, u64> = client.named("dict")?;
    let _guard = lock.lock()?;
    let v = value.get()?;
    value.set(v + 1)?;
    for i in 0..list.len()? as i64 {
        let x = list.get(i)?;
        list.set(i, x + 1)?;
    }
    dict.insert(format!("worker{n:02}"), v + 1)?;
    Ok(())
}

fn manager() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(
        Server::builder().named_builtin("lock", Builtin::Lock).named_builtin("dict", Builtin::Dict).start(),
    )?;
    let client = Client::connect(server.address(), server.authkey())?;
    // Objects made by a client can be named for the others too.
    let value = client.value(0u64)?;
    client.bind_name("value", &value)?;
    let start: Vec<u64> = (0..10).collect();
    let list = client.list_from(&start)?;
    client.bind_name("list", &list)?;

    let mut workers = Vec::new();
    for n in 0..WORKERS {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["worker", &n.to_string()]);
        client.configure_child(&mut cmd);
        workers.push(cmd.spawn()?);
    }
    for mut w in workers {
        if !w.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    let dict: DictProxy<String, u64> = client.named("dict")?;
    let (v, items, keys) = (value.get()?, list.snapshot()?, dict.len()?);
    println!("value: {v}");
    println!("list: {items:?}");
    println!("dict: {keys} keys");
    rt.block_on(server.shutdown());
    let expected: Vec<u64> = start.iter().map(|x| x + WORKERS).collect();
    if v != WORKERS || items != expected || keys != WORKERS as usize {
        return Err("updates were lost".into());
    }
    println!("every update landed");
    Ok(())
}
