//! The `netrelay` binary as a child in a namespace, driven through its stdin.

use super::{Side, TestNet};
use crate::server_bin::HANG;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::Receiver;

/// A relay process forwarding connections to a target; killed on drop.
#[derive(Debug)]
pub struct Relay {
    child: Child,
    stdin: ChildStdin,
    /// Its stdout, line by line (read on a thread, so waits are bounded).
    lines: Receiver<String>,
    /// Where clients connect to it: `tcp://HOST:PORT`.
    pub address: String,
}

/// What `status` says.
#[derive(Debug, PartialEq, Eq)]
pub struct RelayStatus {
    /// It holds (after `hold`, or a spent `stall-after`).
    pub held: bool,
    /// Connections open through it.
    pub connections: u64,
    /// Bytes read and not yet forwarded.
    pub waiting: u64,
    /// Bytes forwarded since it started.
    pub forwarded: u64,
}

impl Relay {
    /// Starts one in `side`'s namespace, listening on `listen` (`HOST:PORT`) and
    /// forwarding to `target` (`tcp://HOST:PORT` or `HOST:PORT`).
    pub fn start(side: &Side, listen: &str, target: &str) -> Relay {
        let target = target.strip_prefix("tcp://").unwrap_or(target);
        let mut child = TestNet::exec_in(side, env!("CARGO_BIN_EXE_netrelay"))
            .args([listen, target])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut relay = Relay { child, stdin, lines, address: String::new() };
        let first = relay.line();
        let bound = first.strip_prefix("listening ").unwrap_or_else(|| panic!("netrelay printed {first:?}"));
        relay.address = format!("tcp://{bound}");
        relay
    }

    fn line(&mut self) -> String {
        self.lines.recv_timeout(HANG).unwrap_or_else(|e| panic!("no line from netrelay within {HANG:?}: {e}"))
    }

    /// Sends a command (`hold`, `release`, `delay MS`, `drop`, `reset`, `stall-after N`)
    /// and waits for its acknowledgement: when this returns, the relay obeys it.
    #[track_caller]
    pub fn command(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let ack = self.line();
        assert_eq!(ack, format!("ok {command}"), "netrelay did not acknowledge {command:?}");
    }

    /// What the relay is doing now.
    pub fn status(&mut self) -> RelayStatus {
        writeln!(self.stdin, "status").unwrap();
        self.stdin.flush().unwrap();
        let line = self.line();
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("netrelay's status {line:?} lacks {name}"))
                .to_owned()
        };
        RelayStatus {
            held: field("held") == "true",
            connections: field("connections").parse().unwrap(),
            waiting: field("waiting").parse().unwrap(),
            forwarded: field("forwarded").parse().unwrap(),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
