//! A watcher process waits on a shared `Event` and prints a shared `dict` each time the
//! main process updates the dict and sets the event.
//!
//! ```text
//! cargo run --example event_watcher
//! ```
//!
//! Python's version: a `manager.Event()` and a `manager.dict()` passed to a
//! `Process`. Here the watcher is this program run again (`watcher`), finding the
//! objects by name. A second event, `printed`, tells the main process the watcher is
//! done with a round, so no round is missed and no sleep is needed.

use manager_client::blocking::{Client, DictProxy, EventProxy};
use manager_server::{Builtin, Server};
use std::process::Command;

const ROUNDS: u32 = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("watcher") => watcher(),
        _ => manager(),
    }
}

fn manager() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(
        Server::builder()
            .named_builtin("data", Builtin::Dict)
            .named_builtin("updated", Builtin::Event)
            .named_builtin("printed", Builtin::Event)
            .start(),
    )?;
    let client = Client::connect(server.address(), server.authkey())?;
    let data: DictProxy<String, u32> = client.named("data")?;
    let updated: EventProxy = client.named("updated")?;
    let printed: EventProxy = client.named("printed")?;

    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("watcher");
    client.configure_child(&mut cmd);
    let mut watcher = cmd.spawn()?;

    for round in 1..=ROUNDS {
        data.insert("round".into(), round)?;
        data.insert(format!("key{round}"), round * 10)?;
        println!("main: updated the dict for round {round}");
        updated.set()?;
        printed.wait()?;
        printed.clear()?;
    }
    let status = watcher.wait()?;
    rt.block_on(server.shutdown());
    if !status.success() {
        return Err(format!("the watcher failed: {status}").into());
    }
    println!("main: the watcher saw all {ROUNDS} rounds");
    Ok(())
}

fn watcher() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let data: DictProxy<String, u32> = client.named("data")?;
    let updated: EventProxy = client.named("updated")?;
    let printed: EventProxy = client.named("printed")?;
    loop {
        updated.wait()?;
        updated.clear()?;
        let mut items = data.items()?;
        items.sort();
        let round = data.get("round")?.unwrap_or(0);
        let shown: Vec<String> = items.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("watcher: round {round}: {{{}}}", shown.join(", "));
        printed.set()?;
        if round == ROUNDS {
            return Ok(());
        }
    }
}
