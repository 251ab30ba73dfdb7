//! A role for the cycle collector's tests (`tests/it/cycles.rs`): a process that builds
//! reference cycles on the server and then goes away, leaving them behind.

use super::Result;
use manager_client::blocking::{self, DictProxy};
use serde::{Deserialize, Serialize};

/// A dict of dicts like itself: the element type that lets two dicts hold each other
/// (a stored proxy is the async one; the blocking proxy lends it with `as_async`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct Node(manager_client::DictProxy<String, Node>);

/// `make-cycles N exit|hang`: builds N pairs of dicts that hold each other and drops its
/// proxies; prints `built` once the server has every release, then exits or waits to
/// be killed.
pub(super) fn make_cycles(n: u32, then: &str) -> Result {
    let client = blocking::Client::from_env()?;
    for _ in 0..n {
        let (a, b): (DictProxy<String, Node>, DictProxy<String, Node>) = (client.dict()?, client.dict()?);
        a.insert("b".into(), Node(b.as_async().clone()))?;
        b.insert("a".into(), Node(a.as_async().clone()))?;
    }
    // Requests on one connection run in order: the releases are in.
    client.ping()?;
    println!("built");
    match then {
        "exit" => Ok(()),
        "hang" => loop {
            std::thread::park();
        },
        other => Err(format!("make-cycles: unknown ending {other:?}").into()),
    }
}
