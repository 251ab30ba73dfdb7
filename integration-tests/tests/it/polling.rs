//! The adaptive poll (issue 23; opt-in: `ServerBuilder::adaptive_poll`,
//! `ClientOptions::adaptive_poll`): after answering, a server connection polls its
//! socket for the next request only as long as requests have lately taken to come, and
//! a blocking client polls for its reply likewise — so a busy client is answered
//! without a sleep and a wake-up on either side, and a client that went quiet leaves no
//! core spinning.

use crate::util::worker;
use manager_client::blocking::Client;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const KEY: &[u8] = b"polling-key";
const POLL: Duration = Duration::from_micros(30);

/// A server process, killed when dropped (however the test ends).
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server process (the worker's `serve-at`) polling adaptively for up to [`POLL`],
/// and its address.
fn polling_server() -> (ServerProcess, String) {
    let key = manager_client::AuthKey::new(KEY.to_vec()).unwrap();
    let mut child = worker()
        .args(["serve-at", "tcp://127.0.0.1:0"])
        .env("MANAGER_AUTHKEY", key.to_hex())
        .env("WORKER_ADAPTIVE_POLL_US", POLL.as_micros().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("LISTENING ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    (ServerProcess(child), address)
}

fn polling_client(address: &str, adaptive_poll: Duration) -> Client {
    let options = manager_client::ClientOptions { adaptive_poll, ..Default::default() };
    Client::connect_with(address, KEY, &options).unwrap()
}

/// Nanoseconds a process's threads have run on a CPU (`/proc/<pid>/task/*/schedstat`).
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|f| f.parse::<u64>().ok()))
        .sum()
}

#[test]
fn a_polling_server_whose_busy_client_went_quiet_stops_polling() {
    let (server, address) = polling_server();
    let client = polling_client(&address, POLL);
    let d = client.dict::<u32, u32>().unwrap();
    // Quick calls one after another: where polling pays, the budgets grow.
    for i in 0..3000 {
        d.insert(i, i).unwrap();
    }
    // The connection stays open and quiet. A measuring window, not a wait for some
    // state: over it, a server still polling would use about all of it.
    let window = Duration::from_millis(400);
    let (before, start) = (cpu_ns(server.0.id()), Instant::now());
    std::thread::sleep(window);
    let (used, elapsed) = (cpu_ns(server.0.id()) - before, start.elapsed());
    assert!(
        Duration::from_nanos(used) < elapsed / 4,
        "the server ran {:?} of the {elapsed:?} its only client was quiet",
        Duration::from_nanos(used)
    );
    // And the quiet connection answers as before.
    assert_eq!(d.get(&2999).unwrap(), Some(2999));
    assert_eq!(d.len().unwrap(), 3000);
    drop(server);
}

#[test]
fn calls_are_answered_alike_with_and_without_the_poll() {
    let (server, address) = polling_server();
    for adaptive_poll in [Duration::ZERO, POLL, Duration::from_millis(1)] {
        let client = polling_client(&address, adaptive_poll);
        let d = client.dict::<u32, u32>().unwrap();
        for i in 0..500 {
            d.insert(i, i * 2).unwrap();
        }
        for i in 0..500 {
            assert_eq!(d.get(&i).unwrap(), Some(i * 2), "with a client poll of at most {adaptive_poll:?}");
        }
    }
    drop(server);
}
