//! Roles for the tests of a blocking client used where it must not block
//! (`tests/it/faults_processes.rs`).

use super::Result;

/// `misuse FLAVOR`: inside a runtime of FLAVOR (`multi`, what `#[tokio::main]`
/// builds, or `current`), on the thread that drives it, connects a blocking client
/// (refused), then does the same from `spawn_blocking` (served); prints both outcomes.
pub(super) fn misuse(flavor: &str) -> Result {
    let mut builder = match flavor {
        "current" => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()?.block_on(async {
        match manager_client::blocking::Client::from_env() {
            Ok(_) => println!("on the runtime's thread: connected"),
            Err(e) => println!("on the runtime's thread: {e}"),
        }
        let served = tokio::task::spawn_blocking(|| manager_client::blocking::Client::from_env().map(|_| ())).await?;
        println!("from spawn_blocking: {served:?}");
        Ok(())
    })
}
