//! Roles for the tests of tokens in flight (`tests/it/travel.rs`): children that take a
//! proxy their parent handed over, and a sender that dies with its token in flight.

use super::Result;
use manager_client::{Client, ListProxy, blocking};
use std::time::Duration;

/// `inherit-append NAME VALUE DELAY_MS async|blocking`: waits DELAY_MS, takes the list
/// of u32 its parent handed over as NAME, appends VALUE, and prints a fresh token for
/// the list (leased: the parent re-reads through it after this process is gone).
pub(super) fn inherit_append(name: &str, value: u32, delay_ms: u64, flavor: &str) -> Result {
    // The delay is the point of the roles' tests: the parent dropped its proxy when it
    // spawned us, and only the token's lease holds the list while we wait.
    std::thread::sleep(Duration::from_millis(delay_ms));
    let token = match flavor {
        "blocking" => {
            let client = blocking::Client::from_env()?;
            let list: blocking::ListProxy<u32> = client.inherited(name)?;
            list.append(value)?;
            list.token()
        }
        "async" => tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
            let client = Client::from_env().await?;
            let list: ListProxy<u32> = client.inherited(name).await?;
            list.append(value).await?;
            Ok::<_, manager_client::Error>(list.token())
        })?,
        other => return Err(format!("unknown client flavor {other:?}").into()),
    };
    println!("{token}");
    Ok(())
}

/// `inherit NAME`: takes the list of u32 handed over as NAME and prints its length;
/// an error (a gone object, a missing variable) goes to stderr and the exit code.
pub(super) fn inherit(name: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let list: blocking::ListProxy<u32> = client.inherited(name)?;
    println!("{}", list.len()?);
    Ok(())
}

/// `mint-and-hang`: creates a list holding 1, 2, 3, prints its token and waits to be
/// killed (the sender whose token is in flight when it dies).
pub(super) fn mint_and_hang() -> Result {
    let client = blocking::Client::from_env()?;
    let list = client.list_from::<u32>(&[1, 2, 3])?;
    println!("{}", list.token());
    // Hold the proxy (and the connection) until killed; the watchdog ends a leftover.
    loop {
        std::thread::park();
    }
}
