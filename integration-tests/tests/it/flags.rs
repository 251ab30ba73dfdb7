//! The standalone binary's flags and keys, from the outside: a bad value is refused
//! with a message naming the flag, the value and what is accepted (exit code 2, no
//! panic); `--named` makes every built-in kind; `--generate-authkey` can be run again;
//! a key readable by others is warned about; a hex key passed as raw bytes is told.

use crate::server_bin::{HANG, KEY, ServerChild, binary, bounded, key};
use manager_client::{ArrayProxy, AuthKey, Client, ValueProxy};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the binary with `args` (on a Unix socket in a fresh directory, keyed) and
/// returns how it ended; kills it if it is still running after [`HANG`] (a flag that
/// was not refused).
pub(crate) fn run(args: &[&str]) -> Output {
    run_logging(args, None)
}

/// [`run`], with `RUST_LOG` set to `rust_log` (or unset).
fn run_logging(args: &[&str], rust_log: Option<&str>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(binary());
    command.env_remove("RUST_LOG");
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    let child = command
        .arg("--unix")
        .arg(dir.path().join("m.sock"))
        .args(args)
        .env("MANAGER_AUTHKEY", key().to_hex())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("manager-server {args:?} was still running after {HANG:?}: the value was accepted");
        }
    }
}

#[test]
fn every_bad_number_duration_and_level_is_refused_by_name() {
    let cases: &[(&str, &str)] = &[
        ("--handshake-timeout", "inf"),
        ("--handshake-timeout", "nan"),
        ("--handshake-timeout", "-1"),
        ("--handshake-timeout", "0"),
        ("--handshake-timeout", "1e9"),
        ("--idle-timeout", "0"),
        ("--idle-timeout", "nan"),
        ("--shutdown-grace", "inf"),
        ("--shutdown-grace", "-0.5"),
        ("--max-connections", "0"),
        ("--max-frame-size", "0"),
        ("--max-in-flight", "0"),
        ("--max-request-memory", "0"),
        ("--max-shared-memory", "-1"),
        ("--max-shared-memory", "1G"),
        ("--token-lease", "0"),
        ("--log-level", "verbose"),
    ];
    for (flag, value) in cases {
        let out = run(&[flag, value]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains(value), "{flag} {value}: {stderr}");
        assert!(stderr.contains("expected"), "{flag} {value} does not say what is accepted: {stderr}");
        assert!(out.stdout.is_empty(), "{flag} {value}: the server started");
    }
}

#[test]
fn rust_log_wins_over_log_level_and_logs_carry_no_colour() {
    // A generated key on an address other hosts can reach is refused, after the key is
    // made and logged at info: the process ends by itself either way.
    let dir = tempfile::tempdir().unwrap();
    let attempt = |file: &str, rust_log| {
        let path = dir.path().join(file);
        let args =
            ["--generate-authkey", path.to_str().unwrap(), "--listen", "tcp://0.0.0.0:0", "--log-level", "error"];
        let out = run_logging(&args, rust_log);
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let quiet = attempt("a.hex", None);
    assert!(!quiet.contains("generated a new key"), "{quiet}");
    let told = attempt("b.hex", Some("info"));
    assert!(told.contains("generated a new key"), "{told}");
    assert!(!told.contains('\x1b'), "colour codes in a log that is not a terminal: {told:?}");

    let out = run_logging(&[], Some("a[="));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RUST_LOG"), "{stderr}");
}

#[test]
fn bad_named_specs_fail_with_examples() {
    for spec in ["value:counter", "value:counter:int:1", "array:a:u8:[1,300]", "barrier:b:0", "pipe:p"] {
        let out = run(&["--named", spec]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
        assert!(!stderr.contains("panicked"), "{spec}: {stderr}");
        assert!(stderr.contains(spec) && stderr.contains("value:counter:i64:0"), "{spec}: {stderr}");
    }
}

#[tokio::test]
async fn named_values_and_arrays_reach_a_client() {
    let server = ServerChild::start_with(&[
        "--named",
        "value:counter:i64:41",
        "--named",
        "value:greeting:str:hello:world",
        "--named",
        "array:samples:f64:[1.5, 2.5]",
        "--named",
        "array:zeros:u8:3",
    ]);
    let client = server.client().await;
    let counter: ValueProxy<i64> = bounded("named", client.named("counter")).await.unwrap();
    assert_eq!(bounded("fetch_add", counter.fetch_add(1)).await.unwrap(), 41);
    assert_eq!(bounded("get", counter.get()).await.unwrap(), 42);
    let greeting: ValueProxy<String> = bounded("named", client.named("greeting")).await.unwrap();
    assert_eq!(bounded("get", greeting.get()).await.unwrap(), "hello:world");
    let samples: ArrayProxy<f64> = bounded("named", client.named("samples")).await.unwrap();
    assert_eq!(bounded("snapshot", samples.snapshot()).await.unwrap(), vec![1.5, 2.5]);
    let zeros: ArrayProxy<u8> = bounded("named", client.named("zeros")).await.unwrap();
    assert_eq!(bounded("snapshot", zeros.snapshot()).await.unwrap(), vec![0, 0, 0]);
}

/// A client of `server` with the key in `file`.
async fn client_with_file(server: &ServerChild, file: &Path) -> Client {
    let key = manager_client::env::read_authkey(file).unwrap();
    bounded("connect", Client::connect(server.address.as_str(), &key)).await.unwrap()
}

#[tokio::test]
async fn generate_authkey_twice_reuses_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key.hex");
    let path = file.to_str().unwrap();
    let first = ServerChild::start_with(&["--generate-authkey", path, "--log-level", "info"]);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let client = client_with_file(&first, &file).await;
    drop(client);
    drop(first);

    let second = ServerChild::start_with(&["--generate-authkey", path, "--log-level", "info"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written, "the key file was rewritten");
    let client = client_with_file(&second, &file).await;
    drop(client);
    assert!(second.log().contains("using the existing key"), "{}", second.log());

    // A file that holds no key is refused, and left as it was.
    std::fs::write(&file, "not a key\n").unwrap();
    let out = run(&["--generate-authkey", path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("does not hold a key"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a key\n");
}

#[test]
fn a_key_file_others_can_read_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key.hex");
    std::fs::write(&file, format!("{}\n", key().to_hex())).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = ServerChild::start_with(&["--authkey-file", file.to_str().unwrap()]);
    assert!(server.log().contains("readable by its group or others"), "{}", server.log());
}

#[test]
fn a_short_key_on_a_reachable_address_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key.hex");
    let short = AuthKey::new(*b"short").unwrap();
    std::fs::write(&file, short.to_hex()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Bound on every interface (a random port), for as long as the test runs.
    let server = ServerChild::start_with(&["--authkey-file", file.to_str().unwrap(), "--listen", "tcp://0.0.0.0:0"]);
    assert!(server.log().contains("the key is 5 bytes"), "{}", server.log());
    assert!(!server.log().contains("readable by"), "{}", server.log());
}

#[tokio::test]
async fn a_hex_key_passed_as_bytes_is_told() {
    let server = ServerChild::start();
    let err =
        bounded("connect", Client::connect(server.address.as_str(), key().to_hex().as_bytes())).await.err().unwrap();
    // KEY is 17 bytes, 34 hex digits: long enough to look like a hex key.
    assert_eq!(KEY.len(), 17);
    assert!(err.to_string().contains("the key given is hex text"), "{err}");
    assert!(server.client().await.address().to_string().starts_with("unix:"));
}

/// The binary logs one line when a connection opens and one when it closes, with the
/// peer and why it ended, and never the key.
#[tokio::test]
async fn connections_are_logged_opened_and_closed_with_the_reason() {
    let server = ServerChild::start_with(&["--log-level", "info"]);
    let client = server.client().await;
    let d = bounded("dict", client.dict::<String, String>()).await.unwrap();
    bounded("insert", d.insert("secret-value".into(), "x".into())).await.unwrap();
    drop((d, client));
    crate::util::wait_until("the close is logged", || async { server.log().contains("connection closed") }).await;
    let log = server.log();
    let opened = log.lines().find(|l| l.contains("connection opened")).unwrap_or_else(|| panic!("{log}"));
    let closed = log.lines().find(|l| l.contains("connection closed")).unwrap_or_else(|| panic!("{log}"));
    assert!(opened.contains("peer=") && closed.contains("peer="), "{log}");
    assert!(closed.contains("closed by the peer") || closed.contains("reason="), "{closed}");
    assert!(!log.contains("secret-value") && !log.contains(&key().to_hex()), "{log}");
}
