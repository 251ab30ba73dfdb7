//! The standalone `manager-server` binary, run as a real process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use manager_client::AuthKey;
use manager_client::blocking::{Client, DictProxy, QueueProxy, RLockProxy};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_manager-server"));
    cmd.env_remove("MANAGER_AUTHKEY").stdin(Stdio::null()).stderr(Stdio::piped());
    cmd
}

/// Starts the server and returns it with the first address it printed.
fn start(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    (child, address)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_named_builtins_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("m.sock");
    let keyfile = dir.path().join("key.hex");
    let (mut child, address) = start(server().args([
        "--unix",
        sock.to_str().unwrap(),
        "--generate-authkey",
        keyfile.to_str().unwrap(),
        "--named",
        "dict:config",
        "--named",
        "queue:jobs:2",
        "--named",
        "rlock:guard",
    ]));
    assert_eq!(address, format!("unix:{}", sock.display()));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&keyfile).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the generated key file is owner-only");
    let key = AuthKey::from_hex(&std::fs::read_to_string(&keyfile).unwrap()).unwrap();
    let client = Client::connect(address.as_str(), key).unwrap();
    let config: DictProxy<String, u32> = client.named("config").unwrap();
    config.insert("workers".into(), 4).unwrap();
    assert_eq!(config.get("workers").unwrap(), Some(4));
    let jobs: QueueProxy<String> = client.named("jobs").unwrap();
    jobs.put("a".into()).unwrap();
    jobs.put("b".into()).unwrap();
    assert!(jobs.full().unwrap(), "maxsize 2 from the command line");
    let guard: RLockProxy = client.named("guard").unwrap();
    assert!(guard.acquire().unwrap() && guard.acquire().unwrap());
    // Clients create more of any built-in type with no user code on the server.
    let list = client.list_from(&[1, 2, 3]).unwrap();
    assert_eq!(list.len().unwrap(), 3);
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    assert!(!sock.exists(), "the socket file is removed");
    assert!(list.len().unwrap_err().is_connection_lost());
}

#[test]
fn refuses_to_start_without_a_key_or_with_an_exposed_generated_key() {
    let out = server().stdout(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no key"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("k");
    let out = server()
        .args(["--listen", "tcp://0.0.0.0:0", "--generate-authkey", keyfile.to_str().unwrap()])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reachable from other hosts"));

    let out =
        server().args(["--named", "teapot:x"]).env("MANAGER_AUTHKEY", "00ff").stdout(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown kind"));
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_manager-server")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--unix",
        "--authkey-file",
        "--generate-authkey",
        "--named",
        "--log-level",
        "--allow-remote-shutdown",
        "--max-connections",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(help.contains("MANAGER_AUTHKEY"));
}

#[test]
fn a_client_may_shut_it_down_when_allowed_and_tcp_works() {
    let (mut child, address) = start(server().args(["--allow-remote-shutdown"]).env("MANAGER_AUTHKEY", "abcdef"));
    assert!(address.starts_with("tcp://127.0.0.1:"), "{address}");
    let client = Client::connect(address.as_str(), [0xab, 0xcd, 0xef]).unwrap();
    client.ping().unwrap();
    client.shutdown_server().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn sigterm_answers_calls_in_flight_with_a_shutting_down_error() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("m.sock");
    let (mut child, address) = start(
        server().args(["--unix", sock.to_str().unwrap(), "--named", "queue:jobs"]).env("MANAGER_AUTHKEY", "0102"),
    );
    let client = Client::connect(address.as_str(), [1u8, 2]).unwrap();
    let jobs: QueueProxy<u32> = client.named("jobs").unwrap();
    jobs.put(7).unwrap();
    assert_eq!(jobs.get().unwrap(), 7, "acknowledged work before the signal");
    let blocked = std::thread::spawn(move || jobs.get());
    // The signal comes once the get is parked: a call in flight, not one yet to be sent.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.stats().unwrap().parked_calls != 1 {
        assert!(Instant::now() < deadline, "the get did not park within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let err = blocked.join().unwrap().unwrap_err();
    assert_eq!(err.remote_kind(), Some(manager_client::RemoteErrorKind::ShuttingDown), "{err:?}");
    assert!(!sock.exists());
}
