//! Operating a running server: `Inspect` through the client API, `manager-cli` against a
//! real `manager-server` process (every subcommand, as tables and as JSON), and the
//! server's warnings for refused handshakes and limits.

use crate::server_bin::{HANG, ServerChild, cli_binary, key};
use crate::util::{start, wait_until, wait_until_blocking};
use manager_client::inspect::ConnectionReport;
use manager_client::proto::ObjectId;
use manager_client::{Client, Proxy, RemoteErrorKind};
use manager_server::Server;
use serde_json::Value as Json;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// What a `manager-cli` run printed, and how it exited.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Json {
        assert_eq!(self.code, Some(0), "manager-cli failed: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    fn text(&self) -> &str {
        assert_eq!(self.code, Some(0), "manager-cli failed: {}", self.stderr);
        &self.stdout
    }

    /// A failure with status 1 and one line on stderr: that line.
    fn failure(&self) -> &str {
        assert_eq!(self.code, Some(1), "expected a failure, got {:?}: {}{}", self.code, self.stdout, self.stderr);
        assert_eq!(self.stderr.lines().count(), 1, "not one line: {:?}", self.stderr);
        assert!(self.stderr.starts_with("manager-cli: "), "{}", self.stderr);
        self.stderr.trim_end()
    }
}

/// A key file holding [`KEY`], in a directory that lives as long as it.
fn key_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.hex");
    std::fs::write(&path, key().to_hex()).unwrap();
    (dir, path)
}

/// Runs `manager-cli` with `args` against `server`, the key from `key`, and no
/// `MANAGER_*` variable but those `env` sets.
fn cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(cli_binary());
    cmd.args(args).stdin(Stdio::null());
    for var in [
        "MANAGER_ADDRESS",
        "MANAGER_AUTHKEY",
        "MANAGER_AUTHKEY_FILE",
        "MANAGER_TLS_CA",
        "MANAGER_TLS_PIN",
        "MANAGER_TLS_CERT",
        "MANAGER_TLS_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let Output { status, stdout, stderr } =
        crate::server_bin::within(HANG, "manager-cli", move || cmd.output().unwrap());
    Run { code: status.code(), stdout: String::from_utf8(stdout).unwrap(), stderr: String::from_utf8(stderr).unwrap() }
}

fn at<'a>(server: &'a ServerChild, key: &'a std::path::Path, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--address", server.address.as_str(), "--authkey-file", key.to_str().unwrap()];
    args.extend_from_slice(rest);
    args
}

/// The connection in `conns` (JSON) that holds `object`.
fn holder_of(conns: &Json, object: u64) -> &Json {
    let found: Vec<&Json> = conns
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["refs_held"].as_array().unwrap().iter().any(|r| r["object"] == object))
        .collect();
    assert_eq!(found.len(), 1, "{conns:#}");
    found[0]
}

#[tokio::test]
async fn every_subcommand_as_a_table_and_as_json() {
    let server = ServerChild::start();
    let (_dir, key) = key_file();
    let owner = server.client().await;
    let config = owner.dict::<String, u64>().await.unwrap();
    for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
        config.insert(k.into(), v).await.unwrap();
    }
    owner.bind_name("config", &config).await.unwrap();
    let jobs = owner.queue::<String>(0).await.unwrap();
    jobs.put("first".into()).await.unwrap();
    let locker = server.client().await;
    let lock = locker.lock().await.unwrap();
    assert!(lock.acquire().await.unwrap());
    let (dict_id, queue_id, lock_id) = (config.handle().object().0, jobs.handle().object().0, lock.handle().object().0);

    // stats
    let stats = cli(&at(&server, &key, &["--json", "stats"]), &[]).json();
    assert_eq!(stats["objects"], 3);
    assert_eq!(stats["named"], 1);
    assert_eq!(stats["connections"], 3, "two clients and the CLI's own: {stats:#}");
    let table = cli(&at(&server, &key, &["stats"]), &[]);
    assert!(table.text().lines().any(|l| l.split_whitespace().eq(["objects", "3"])), "{}", table.stdout);

    // ls
    let all = cli(&at(&server, &key, &["ls", "--json"]), &[]).json();
    let dict = all.as_array().unwrap().iter().find(|o| o["id"] == dict_id).unwrap();
    assert_eq!(dict["type_id"], "dict");
    assert_eq!(dict["names"], serde_json::json!(["config"]));
    assert_eq!(dict["repr"], "{'a': 1, 'b': 2, 'c': 3}");
    assert_eq!(dict["refs"], 2, "the owner's connection and the name");
    let table = cli(&at(&server, &key, &["ls"]), &[]);
    let line = table.text().lines().find(|l| l.contains("config")).unwrap();
    assert!(line.starts_with(&dict_id.to_string()) && line.ends_with("{'a': 1, 'b': 2, 'c': 3}"), "{line}");
    assert!(table.text().contains("<lock: locked by connection"), "{}", table.stdout);

    // ls TYPE
    let queues = cli(&at(&server, &key, &["--json", "ls", "queue"]), &[]).json();
    let ids: Vec<&Json> = queues.as_array().unwrap().iter().map(|o| &o["id"]).collect();
    assert_eq!(ids, [queue_id]);
    assert_eq!(queues[0]["repr"], "<queue len=1>");
    let table = cli(&at(&server, &key, &["ls", "queue"]), &[]);
    assert!(table.text().contains("queue") && !table.text().contains("dict"), "{}", table.stdout);

    // show
    let shown = cli(&at(&server, &key, &["--json", "show", &dict_id.to_string()]), &[]).json();
    assert_eq!(shown["id"], dict_id);
    let holders = shown["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 1, "{shown:#}");
    assert_eq!(holders[0]["refs"], 1);
    let table = cli(&at(&server, &key, &["show", &format!("#{dict_id}")]), &[]);
    assert!(table.text().lines().any(|l| l.split_whitespace().eq(["names", "config"])), "{}", table.stdout);
    let unknown = cli(&at(&server, &key, &["show", "987654"]), &[]);
    assert!(unknown.failure().contains("no object #987654"), "{}", unknown.stderr);

    // conns, once the earlier runs' connections are closed on the server too
    wait_until("the earlier runs' connections to close", || async { owner.stats().await.unwrap().connections == 2 })
        .await;
    let conns = cli(&at(&server, &key, &["--json", "conns"]), &[]).json();
    assert_eq!(conns.as_array().unwrap().len(), 3, "{conns:#}");
    let holding = holder_of(&conns, lock_id);
    assert_eq!(holding["locks_held"], serde_json::json!([lock_id]));
    let owning = holder_of(&conns, dict_id);
    assert_eq!(owning["locks_held"], serde_json::json!([]));
    assert_eq!(owning["refs_held"].as_array().unwrap().len(), 2, "the dict and the queue: {owning:#}");
    let table = cli(&at(&server, &key, &["conns"]), &[]);
    let header: Vec<&str> = table.text().lines().next().unwrap().split_whitespace().collect();
    let locks_column = header.iter().position(|h| *h == "LOCKS").unwrap();
    let with_lock: Vec<&str> = table
        .text()
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(locks_column) == Some(&*lock_id.to_string()))
        .collect();
    assert_eq!(with_lock.len(), 1, "{}", table.stdout);

    // The address and key from the environment, as `Client::from_env` reads them.
    let key_hex = crate::server_bin::key().to_hex();
    let from_env =
        cli(&["--json", "ls", "dict"], &[("MANAGER_ADDRESS", &server.address), ("MANAGER_AUTHKEY", &key_hex)]);
    assert_eq!(from_env.json()[0]["id"], dict_id);
    let env_file = [("MANAGER_ADDRESS", server.address.as_str()), ("MANAGER_AUTHKEY_FILE", key.to_str().unwrap())];
    assert_eq!(cli(&["--json", "ls", "lock"], &env_file).json()[0]["id"], lock_id);
}

#[tokio::test]
async fn shutdown_is_refused_unless_the_server_allows_it() {
    let (_dir, key) = key_file();
    let server = ServerChild::start();
    let refused = cli(&at(&server, &key, &["shutdown"]), &[]);
    assert!(refused.failure().contains("--allow-remote-shutdown"), "{}", refused.stderr);
    server.client().await.ping().await.unwrap();

    let mut server = ServerChild::start_with(&["--allow-remote-shutdown"]);
    let done = cli(&at(&server, &key, &["--json", "shutdown"]), &[]).json();
    assert_eq!(done["shutdown"], true);
    let mut status = None;
    wait_until_blocking("the server to exit", || {
        status = server.child.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[tokio::test]
async fn failures_are_one_line_on_stderr_with_status_1_and_usage_errors_status_2() {
    let (dir, key_path) = key_file();
    let key = key_path.as_path();
    let server = ServerChild::start();
    let wrong = dir.path().join("wrong.hex");
    std::fs::write(&wrong, "00112233445566778899").unwrap();
    let run = cli(&["--address", &server.address, "--authkey-file", wrong.to_str().unwrap(), "ls"], &[]);
    assert!(run.failure().contains("wrong key"), "{}", run.stderr);
    // The server warned, naming why and never the key.
    wait_until_blocking("the refused handshake's warning", || server.log().contains("handshake refused"));
    let log = server.log();
    assert!(
        log.contains("WARN")
            && !log.contains(&crate::server_bin::key().to_hex())
            && !log.contains("00112233445566778899"),
        "{log}"
    );

    let gone = dir.path().join("gone.sock");
    let run =
        cli(&["--address", &format!("unix:{}", gone.display()), "--authkey-file", key.to_str().unwrap(), "stats"], &[]);
    assert!(run.failure().contains("could not connect"), "{}", run.stderr);
    let run = cli(&["stats"], &[]);
    assert!(run.failure().contains("MANAGER_ADDRESS"), "{}", run.stderr);
    let run = cli(&at(&server, key, &["show", "nine"]), &[]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(cli(&[], &[]).code, Some(2));
}

#[tokio::test]
async fn the_server_warns_of_limits_hit_without_the_values() {
    let server = ServerChild::start_with(&["--max-request-memory", "1024", "--max-frame-size", "4096"]);
    let client = server.client().await;
    let l = client.list::<String>().await.unwrap();
    let secret = "s3cr3t".repeat(50);
    let e = l.extend(vec![secret.clone(); 6]).await.unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
    wait_until_blocking("the limit's warning", || server.log().contains("request refused"));
    // A frame over the largest ends the connection, with a warning.
    let _ = l.append(secret.repeat(20)).await;
    wait_until_blocking("the frame's warning", || server.log().contains("bad frame"));
    let log = server.log();
    assert!(!log.contains("s3cr3t"), "a value was logged:\n{log}");
}

/// The client API: every object with its holders, names and rendering; connections
/// with their streams, watches, parked calls and locks.
#[tokio::test]
async fn the_client_api_reports_objects_and_connections() {
    let (_dir, server) = start(Server::builder()).await;
    let connect = || Client::connect(server.address(), server.authkey().as_bytes());
    let a = connect().await.unwrap();
    let b = connect().await.unwrap();
    let list = a.list_from(&[1u32, 2, 3]).await.unwrap();
    a.bind_name("nums", &list).await.unwrap();
    let shared = b.named::<manager_client::ListProxy<u32>>("nums").await.unwrap();
    let mut watch = shared.watch();
    assert!(watch.next().await.is_some(), "the snapshot");
    let empty = a.queue::<u8>(0).await.unwrap();
    let waiting = {
        let q = empty.clone();
        tokio::spawn(async move { q.get().await })
    };
    wait_until("the get to park", || async { a.stats().await.unwrap().parked_calls == 1 }).await;
    let sem = b.semaphore(2).await.unwrap();
    assert!(sem.acquire().await.unwrap());

    let objects = a.inspect_objects(None).await.unwrap();
    assert_eq!(objects.iter().map(|o| o.type_id.as_str()).collect::<Vec<_>>(), ["list", "queue", "semaphore"]);
    let nums = a.inspect_object(list.handle().object()).await.unwrap();
    assert_eq!((nums.names.as_slice(), nums.repr.as_str(), nums.refs), (&["nums".to_owned()][..], "[1, 2, 3]", 3));
    assert_eq!(nums.holders.len(), 2, "both connections: {nums:?}");
    let e = a.inspect_object(ObjectId(999)).await.unwrap_err();
    assert!(matches!(&e, manager_client::Error::Remote(r) if r.kind == RemoteErrorKind::NoSuchObject), "{e}");
    assert_eq!(a.inspect_objects(Some("semaphore")).await.unwrap()[0].repr, "<semaphore: value=1>");
    let v = b.value((-7i64, "seven".to_owned(), Some(1.5f64))).await.unwrap();
    assert_eq!(a.inspect_object(v.handle().object()).await.unwrap().repr, "Value((-7, 'seven', 1.5))");
    drop(v);

    let conns = a.inspect_connections().await.unwrap();
    assert_eq!(conns.len(), 2);
    let of = |obj: ObjectId| -> &ConnectionReport {
        conns.iter().find(|c| c.refs_held.iter().any(|r| r.object == obj)).unwrap()
    };
    let (ca, cb) = (of(empty.handle().object()), of(sem.handle().object()));
    assert_ne!(ca.id, cb.id);
    assert_eq!((cb.streams, cb.watches, cb.locks_held.as_slice()), (1, 1, &[sem.handle().object()][..]));
    assert_eq!(ca.parked_calls, 2, "the get, and this inspection");
    assert!(ca.locks_held.is_empty() && ca.streams == 0);

    // The blocking twin, from a plain thread.
    let (address, key) = (server.address().clone(), server.authkey().clone());
    let reports = tokio::task::spawn_blocking(move || {
        let client = manager_client::blocking::Client::connect(address, key.as_bytes()).unwrap();
        (client.inspect_objects(Some("list")).unwrap(), client.inspect_connections().unwrap().len())
    })
    .await
    .unwrap();
    assert_eq!((reports.0.len(), reports.1), (1, 3));
    waiting.abort();
}

#[tokio::test]
async fn over_tls_with_a_ca_flag_or_the_environment() {
    use crate::tls_certs::{Certs, arg, pki, tls_server};
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let server = tls_server(&cert, &["--named", "queue:jobs"]);
    let (_dir, key) = key_file();
    let tls_address = server.tcp[0].as_str();
    let base = ["--address", tls_address, "--authkey-file", key.to_str().unwrap()];
    let with_ca = [&base[..], &["--tls-ca", arg(&ca.pem), "--json", "ls"]].concat();
    let run = cli(&with_ca, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let objects: Json = serde_json::from_str(&run.stdout).unwrap();
    assert!(objects.as_array().unwrap().iter().any(|o| o["names"].to_string().contains("jobs")), "{objects:#}");
    // The environment's CA, as `Client::from_env` reads it.
    let run = cli(&[&base[..], &["stats"]].concat(), &[("MANAGER_TLS_CA", arg(&ca.pem))]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // No trust configured: refused, saying why, never unverified.
    let run = cli(&[&base[..], &["stats"]].concat(), &[]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains(tls_address), "{}", run.stderr);
}
