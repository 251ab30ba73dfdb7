//! Roles for the tests of stream methods (`tests/it/streams_shared.rs`).

use super::Result;
use integration_tests::streams::{NumbersBlockingProxy, NumbersProxy};

/// `squares NAME N`: reads the squares of `0..N` from the `Numbers` handed over as
/// NAME, blocking and async, and prints how many came and their sum, once per way.
pub(super) fn squares(name: &str, n: u64) -> Result {
    let client = manager_client::blocking::Client::from_env()?;
    let numbers: NumbersBlockingProxy = client.inherited(name)?;
    let got = numbers.squares(n).collect::<std::result::Result<Vec<u64>, _>>()?;
    println!("blocking: {} items, sum {}", got.len(), got.iter().sum::<u64>());
    let got = tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
        let client = manager_client::Client::from_env().await?;
        let numbers: NumbersProxy = client.inherited(name).await?;
        numbers.squares(n).collect_all().await
    })?;
    println!("async: {} items, sum {}", got.len(), got.iter().sum::<u64>());
    Ok(())
}
