//! Roles for the tests of interfaces (`tests/it/interfaces.rs`): clients that know a
//! shared counter only by its `#[shared]` trait, `integration_tests::interface`, and
//! link none of the servers' implementations.

use super::Result;
use integration_tests::interface::{CounterBlockingProxy, older};
use manager_client::blocking;

/// `iface-use NAME`: creates a counter at 10 and adds 2; opens the counter named NAME
/// and adds 1; attaches it again through a token; asks to take more than it holds.
/// Prints each outcome.
pub(super) fn use_counter(name: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let mine = CounterBlockingProxy::create(&client, 10)?;
    println!("created {} -> {}", mine.get()?, mine.incr(2)?);
    let named: CounterBlockingProxy = client.named(name)?;
    println!("named {} -> {}", named.get()?, named.incr(1)?);
    let again: CounterBlockingProxy = client.attach(named.token())?;
    let count = again.get()?;
    println!("attached {count}");
    match again.take(count + 1)? {
        Ok(left) => println!("took: {left} left"),
        Err(refusal) => println!("refused: {refusal}"),
    }
    Ok(())
}

/// `iface-older NAME`: opens the counter named NAME, then creates one, with the proxy
/// of the older interface (`incr` on `u32`); prints each outcome (`refused: ERROR`).
pub(super) fn use_older(name: &str) -> Result {
    let client = blocking::Client::from_env()?;
    match client.named::<older::CounterBlockingProxy>(name) {
        Ok(c) => println!("named: incr {}", c.incr(1)?),
        Err(e) => println!("named: refused: {e}"),
    }
    match older::CounterBlockingProxy::create(&client, 1) {
        Ok(c) => println!("create: incr {}", c.incr(1)?),
        Err(e) => println!("create: refused: {e}"),
    }
    Ok(())
}
