//! `event_watcher` without the polling: a watcher process reacts to each change of a
//! shared dict as the server applies it, through `watch()`.
//!
//! ```text
//! cargo run --example dict_watcher
//! ```
//!
//! Python's managers can only be polled: its watcher waits on an `Event`, re-reads the
//! whole dict each round, and needs a second event to tell the writer it is done (the
//! `event_watcher` example, with the Python in its header). Here the watcher's stream
//! starts with the dict as it is, then brings every insert, update and removal in the
//! order the server applied them, numbered; the writer never waits for it, and a
//! watcher that fell behind would be told how many changes it missed and get the dict
//! afresh. The one event left, `ready`, only lets the output be the same on every run.

use manager_client::blocking::{Client, DictProxy, EventProxy};
use manager_client::watch::{DictChange, Watch};
use manager_server::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("watcher") {
        let client = Client::from_env()?;
        let (data, ready): (DictProxy<String, u32>, EventProxy) =
            (client.inherited("data")?, client.inherited("ready")?);
        for event in data.watch() {
            match event? {
                Watch::Snapshot { version, state } => println!("watcher: at version {version}: {state:?}"),
                Watch::Change {
                    version,
                    change: DictChange::Inserted { key, value } | DictChange::Updated { key, value },
                } => {
                    println!("watcher: version {version}: {key} = {value}");
                    if key == "round" && value == 3 {
                        break;
                    }
                }
                Watch::Change { version, change } => println!("watcher: version {version}: {change:?}"),
                Watch::Lagged { missed } => println!("watcher: fell behind by {missed} changes"),
            }
            ready.set()?;
        }
        return Ok(());
    }
    let server = Server::builder().start_blocking()?;
    let client = Client::connect(server.address(), server.authkey())?;
    let (data, ready) = (client.dict::<String, u32>()?, client.event()?);
    let w = client.worker().arg("watcher").proxy("data", &data).proxy("ready", &ready).spawn()?;
    ready.wait()?;
    for r in 1..=3 {
        data.insert(format!("key{r}"), r * 10)?;
        data.insert("round".into(), r)?;
    }
    w.join()?;
    Ok(())
}
