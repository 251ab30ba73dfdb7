//! A role for the watch tests (`tests/it/watch.rs`): a watcher in a child process.

use super::Result;
use manager_client::blocking;

/// `watch-and-hang NAME`: watches the list of u32 handed over as NAME, prints `ready`
/// once its snapshot came, then reads on (slowly: one event a second) until killed.
pub(super) fn watch_and_hang(name: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let list: blocking::ListProxy<u32> = client.inherited(name)?;
    let mut events = list.watch();
    events.next().ok_or("the watch ended before its snapshot")??;
    println!("ready");
    for event in events {
        event?;
        std::thread::park_timeout(std::time::Duration::from_secs(1));
    }
    Ok(())
}
