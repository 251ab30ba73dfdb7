//! A `worker net-client` child in a namespace: commands in, one line per outcome out.

use super::{Side, TestNet};
use crate::server_bin::{HANG, key};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// A client process: `worker net-client ADDRESS KEEPALIVE_MS` run in a namespace,
/// connected to the server when [`start`](Self::start) returns (or having said why not).
/// Killed on drop.
#[derive(Debug)]
pub struct NetClient {
    child: Child,
    stdin: ChildStdin,
    /// The child's stdout, line by line, read on a thread so that a test can bound its
    /// wait for a line.
    lines: Receiver<String>,
}

/// One outcome line, parsed: `ok DETAIL ms=N` or `err KIND: MESSAGE ms=N`.
#[derive(Debug)]
pub struct Outcome {
    /// The line as printed.
    pub line: String,
    /// Whether it starts with `ok`.
    pub ok: bool,
    /// What the command took, by the client's clock.
    pub took: Duration,
}

impl Outcome {
    fn parse(line: String) -> Outcome {
        let ms = line.rsplit_once(" ms=").and_then(|(_, ms)| ms.trim().parse().ok()).unwrap_or(0);
        Outcome { ok: line.starts_with("ok "), took: Duration::from_millis(ms), line }
    }

    /// The detail of an `ok` line (the new value, `acquired=true`); panics on an error.
    #[track_caller]
    pub fn value(&self) -> &str {
        assert!(self.ok, "the command failed: {}", self.line);
        self.line.trim_start_matches("ok ").rsplit_once(" ms=").map_or("", |(detail, _)| detail)
    }

    /// Whether it is an error of `kind` (`ConnectionLost`, `Remote(…)`).
    pub fn is_err(&self, kind: &str) -> bool {
        self.line.starts_with(&format!("err {kind}:"))
    }
}

impl NetClient {
    /// Starts one in `side`'s namespace against `address` (`tcp://HOST:PORT`), with the
    /// test servers' key and a keepalive of `keepalive`; returns it with the outcome of
    /// its connecting.
    pub fn start(side: &Side, address: &str, keepalive: Duration) -> (NetClient, Outcome) {
        Self::start_with(side, address, keepalive, false)
    }

    /// [`NetClient::start`], for a client that reconnects and resumes its session.
    pub fn start_reconnecting(side: &Side, address: &str, keepalive: Duration) -> (NetClient, Outcome) {
        Self::start_with(side, address, keepalive, true)
    }

    fn start_with(side: &Side, address: &str, keepalive: Duration, reconnect: bool) -> (NetClient, Outcome) {
        let mut child = TestNet::exec_in(side, env!("CARGO_BIN_EXE_worker"))
            .args(["net-client", address, &keepalive.as_millis().to_string()])
            .env("NET_CLIENT_RECONNECT", if reconnect { "1" } else { "0" })
            .env("MANAGER_AUTHKEY", key().to_hex())
            // Its own watchdog, shorter than the default: these tests are short.
            .env("WORKER_DEADLINE_SECS", "120")
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
        let mut client = NetClient { child, stdin, lines };
        let connected = client.outcome();
        (client, connected)
    }

    /// Sends a command without waiting for its outcome (a call that is to wait).
    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next outcome; panics if none comes within the hang bound.
    #[track_caller]
    pub fn outcome(&mut self) -> Outcome {
        self.outcome_within(HANG).unwrap_or_else(|| panic!("hung: no line from the net-client within {HANG:?}"))
    }

    /// The next outcome if one comes within `limit`.
    pub fn outcome_within(&mut self, limit: Duration) -> Option<Outcome> {
        match self.lines.recv_timeout(limit) {
            Ok(line) => Some(Outcome::parse(line)),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("the net-client exited: {:?}", self.child.try_wait()),
        }
    }

    /// Sends a command and returns its outcome.
    #[track_caller]
    pub fn run(&mut self, command: &str) -> Outcome {
        self.send(command);
        self.outcome()
    }
}

impl Drop for NetClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
