//! A watcher process waits on a shared `Event` and prints a shared dict each time the
//! main process updates the dict and sets the event, three rounds.
//!
//! ```text
//! cargo run --example event_watcher
//! ```
//!
//! A second event, `printed`, tells the main process the watcher is done with a round,
//! so no round is missed and no sleep is needed. Python's version, with the dict and
//! the events passed to the `Process`:
//!
//! ```python
//! from multiprocessing import Manager, Process
//!
//! def watcher(data, updated, printed):
//!     for _ in range(3):
//!         updated.wait()
//!         updated.clear()
//!         print(f"watcher: round {data['round']}: {dict(sorted(data.items()))}")
//!         printed.set()
//!
//! if __name__ == '__main__':
//!     with Manager() as manager:
//!         data, updated, printed = manager.dict(), manager.Event(), manager.Event()
//!         w = Process(target=watcher, args=(data, updated, printed))
//!         w.start()
//!         for r in range(1, 4):
//!             data['round'] = r
//!             data[f'key{r}'] = r * 10
//!             updated.set()
//!             printed.wait()
//!             printed.clear()
//!         w.join()
//! ```

use manager_client::blocking::{Client, DictProxy, EventProxy};
use manager_server::Server;
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("watcher") {
        let client = Client::from_env()?;
        let data: DictProxy<String, u32> = client.inherited("data")?;
        let (updated, printed): (EventProxy, EventProxy) = (client.inherited("updated")?, client.inherited("printed")?);
        for _ in 0..3 {
            updated.wait()?;
            updated.clear()?;
            println!(
                "watcher: round {}: {:?}",
                data.get("round")?.unwrap_or(0),
                data.items().collect::<Result<BTreeMap<_, _>, _>>()?
            );
            printed.set()?;
        }
        return Ok(());
    }
    let server = Server::builder().start_blocking()?;
    let client = Client::connect(server.address(), server.authkey())?;
    let (data, updated, printed) = (client.dict::<String, u32>()?, client.event()?, client.event()?);
    let w = client.worker().arg("watcher").proxy("data", &data);
    let w = w.proxy("updated", &updated).proxy("printed", &printed).spawn()?;
    for r in 1..=3 {
        data.insert("round".into(), r)?;
        data.insert(format!("key{r}"), r * 10)?;
        updated.set()?;
        printed.wait()?;
        printed.clear()?;
    }
    w.join()?;
    Ok(())
}
