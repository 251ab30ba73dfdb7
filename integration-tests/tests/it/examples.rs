//! The examples in `examples/`, run as the programs they are, with their output
//! checked. (`cargo test` builds examples before running tests; run alone, this module
//! builds any that are missing.)

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> Command {
    let dir = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("examples");
    let path: PathBuf = dir.join(name);
    if !path.exists() {
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let status =
            Command::new(cargo).args(["build", "-p", "integration-tests", "--example", name]).status().unwrap();
        assert!(status.success(), "could not build example {name}");
    }
    let mut cmd = Command::new(path);
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
    cmd
}

fn run(name: &str, args: &[&str]) -> String {
    let out = example(name).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{name} failed: {:?}\n{stdout}", out.status);
    stdout
}

#[test]
fn quickstart() {
    let out = run("quickstart", &[]);
    assert_eq!(out.lines().filter(|l| l.starts_with("worker ")).count(), 4, "{out}");
    assert!(out.contains("manager: total 125500 from 1000 adds by 4 workers\n"), "{out}");
}

#[test]
fn shared_memory_connection() {
    let out = run("shared_memory_connection", &[]);
    // 0 + 1 + … + 19,999.
    assert!(out.contains("got 20000 items summing to 199990000\n"), "{out}");
    // The parent's connection and both workers'.
    assert!(out.contains("connections over shared memory while both workers ran: 3\n"), "{out}");
}

#[test]
fn event_watcher() {
    let out = run("event_watcher", &[]);
    let expected = "watcher: round 1: {\"key1\": 10, \"round\": 1}\n\
                    watcher: round 2: {\"key1\": 10, \"key2\": 20, \"round\": 2}\n\
                    watcher: round 3: {\"key1\": 10, \"key2\": 20, \"key3\": 30, \"round\": 3}\n";
    assert_eq!(out, expected);
}

#[test]
fn dict_watcher() {
    let out = run("dict_watcher", &[]);
    let expected = "watcher: at version 0: []\n\
                    watcher: version 1: key1 = 10\n\
                    watcher: version 2: round = 1\n\
                    watcher: version 3: key2 = 20\n\
                    watcher: version 4: round = 2\n\
                    watcher: version 5: key3 = 30\n\
                    watcher: version 6: round = 3\n";
    assert_eq!(out, expected);
}

#[test]
fn dict_workers() {
    let out = run("dict_workers", &[]);
    let pairs: Vec<String> = (0..10).map(|i| format!("{i}: {}", i * 2)).collect();
    assert_eq!(out, format!("{{{}}}\n", pairs.join(", ")));
}

#[test]
fn shared_memory() {
    let out = run("shared_memory", &[]);
    let expected = "worker 0: 31249875000\nworker 1: 93749875000\nworker 2: 156249875000\n\
                    worker 3: 218749875000\ntotal: 499999500000 (expected 499999500000)\n";
    assert_eq!(out, expected);
}

#[test]
fn shareable_list() {
    let out = run("shareable_list", &[]);
    let expected = "main: slots of 6 bytes\n\
                    worker: read [\"howdy\", \"hi\", \"hello\"]\n\
                    worker: the value's encoding (15 bytes) exceeds the available storage of ShareableList slot 2 \
                    (6 bytes, fixed when the list was made): make the list with a larger slot size\n\
                    main: now [\"howdy\", \"hey\", \"hello\"]\n";
    assert_eq!(out, expected);
}

#[test]
fn queue_pipeline() {
    let out = run("queue_pipeline", &[]);
    assert_eq!(out, "consumer: got 10000 items, sum 49995000\n");
}

#[test]
fn lock_counter() {
    let out = run("lock_counter", &[]);
    assert!(out.contains("value: 20\n"), "{out}");
    assert!(out.contains("list: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]"), "{out}");
    assert!(out.contains("dict: 20 keys"), "{out}");
}

#[test]
fn employee() {
    let out = run("employee", &[]);
    assert!(out.contains("Alice: salary 50000\n"), "{out}");
    assert!(out.contains("Alice: salary 51000 (1000 higher)"), "{out}");
    assert!(out.contains("hired Bob (1 so far): salary 40500\n"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("worker ")).count(), 10);
}

#[test]
fn squares() {
    let out = run("squares", &[]);
    let expected = "worker: squares(10) = [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n\
                    worker: the first square over 1000 is 1024\n\
                    manager: the squares of 0..1000 add up to 332833500\n";
    assert_eq!(out, expected);
}

#[test]
fn pool_apply_async() {
    let out = run("pool_apply_async", &[]);
    assert_eq!(out, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n5 workers, all gone\n");
}

#[test]
fn pool_map() {
    let out = run("pool_map", &[]);
    assert_eq!(out, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n333328333350000\n");
}

#[test]
fn vector() {
    let out = run("vector", &[]);
    assert!(out.contains("child: a + b = (11, 22)\n"), "{out}");
    assert!(out.contains("child: a += b gives a = (11, 22)\n"), "{out}");
    assert!(out.contains("remote: sum = (11, 22), 2 * sum = (22, 44)\n"), "{out}");
    assert!(out.contains("manager: a = (11, 22)\n"), "{out}");
    assert!(out.contains("manager: 3 objects\n"), "{out}");
}

/// Starts example `name` (a server taking `--address` and `--key`) on a free port: the
/// process, the rest of its output, and the address it printed.
fn start_server(
    name: &str,
    key: &str,
) -> (std::process::Child, std::io::Lines<BufReader<std::process::ChildStdout>>, String) {
    let mut server =
        example(name).args(["--address", "tcp://127.0.0.1:0", "--key", key]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let address = first.strip_prefix(&format!("{name}: listening on ")).unwrap().to_owned();
    (server, lines, address)
}

#[test]
fn remote_server_and_client_are_unrelated_programs() {
    let key = "test-remote-key";
    let (mut server, mut lines, address) = start_server("remote_server", key);
    let one = run("remote_client", &["--address", &address, "--key", key]);
    let two = run("remote_client", &["--address", &address, "--key", key]);
    assert!(one.contains("visit 1:") && one.contains("(\"visits\", 1)"), "{one}");
    assert!(two.contains("visit 2:") && two.contains("(\"visits\", 2)"), "the state outlives each client: {two}");
    let wrong = example("remote_client").args(["--address", &address, "--key", "wrong"]).output().unwrap();
    assert!(!wrong.status.success(), "a wrong key is refused");
    run("remote_client", &["--address", &address, "--key", key, "--stop"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert_eq!(lines.next().unwrap().unwrap(), "remote_server: a client asked me to stop");
}

#[test]
fn an_interface_client_uses_a_server_implementing_it() {
    let key = "test-interface-key";
    let (mut server, mut lines, address) = start_server("interface_server", key);
    let one = run("interface_client", &["--address", &address, "--key", key]);
    let two = run("interface_client", &["--address", &address, "--key", key]);
    assert_eq!(
        one,
        "interface_client: hits = 1\ninterface_client: mine = 42, above 41: 42\n\
         interface_client: the server refused: only 42 to take\n"
    );
    assert!(two.starts_with("interface_client: hits = 2\n"), "the named counter outlives each client: {two}");
    run("interface_client", &["--address", &address, "--key", key, "--stop"]);
    assert!(server.wait().unwrap().success());
    assert_eq!(lines.next().unwrap().unwrap(), "interface_server: a client asked me to stop");
}

#[test]
fn reconnect() {
    let out = run("reconnect", &[]);
    assert_eq!(out.lines().filter(|l| l.starts_with("link broken after ")).count(), 4, "{out}");
    assert!(out.contains("links used: 5\n"), "{out}");
    assert!(out.contains("lock still ours: true\n"), "{out}");
    assert!(out.contains("sum of squares 1..=20: 2870 (every job done once)\n"), "{out}");
}
