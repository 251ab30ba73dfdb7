//! The comparison columns: Python's `multiprocessing.managers` (a script kept in the
//! repository, run with the machine's python3) and Redis (`redis-server` +
//! `redis-benchmark`), each skipped with a note when absent.

use crate::report::{Figure, Row};
use std::process::{Command, Stdio};

fn taskset(pinned: bool, program: &str) -> Command {
    if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", program]);
        c
    } else {
        Command::new(program)
    }
}

/// Fills `python` figures from `bench/managers_bench.py`.
pub fn python(rows: &mut [Row], transport: &str, pinned: bool, quick: bool) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/managers_bench.py");
    let mut cmd = taskset(pinned, "python3");
    cmd.args([script, "--transport", transport]);
    if quick {
        cmd.arg("--quick");
    }
    let out = match cmd.stderr(Stdio::inherit()).output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!("note: the Python comparison failed ({}); its column is empty", o.status);
            return;
        }
        Err(e) => {
            eprintln!("note: no python3 ({e}); the Python column is skipped");
            return;
        }
    };
    let figures: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(&out.stdout) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("note: the Python script printed something unexpected ({e})");
            return;
        }
    };
    let figure = |v: &serde_json::Value| {
        let get = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
        Figure { median: get("median"), min: get("min"), max: get("max") }
    };
    for r in rows.iter_mut() {
        if let Some(v) = figures.get(&r.id) {
            r.python = Some(figure(v));
        }
        if let Some(v) = figures.get(&format!("{}-cpu", r.id)) {
            r.python_cpu = Some(figure(v));
        }
    }
}

/// Fills `redis` figures (GET/SET one at a time for the sequential rows; `-P 16` for the
/// pipelined row) from a `redis-server` started here on a private socket or port.
pub fn redis(rows: &mut [Row], transport: &str, pinned: bool, quick: bool) {
    if Command::new("redis-server").arg("--version").output().is_err()
        || Command::new("redis-benchmark").arg("--version").output().is_err()
    {
        eprintln!("note: redis-server or redis-benchmark is not installed; the Redis column is skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("redis.sock");
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(6399);
    let mut server = taskset(pinned, "redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--unixsocket", sock.to_str().unwrap()])
        .args(["--save", "", "--appendonly", "no", "--dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let ready = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        sock.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    if !ready {
        eprintln!("note: redis-server did not start; the Redis column is skipped");
        let _ = server.kill();
        let _ = server.wait();
        return;
    }
    let n = if quick { "20000" } else { "100000" };
    let bench = |extra: &[&str]| -> Option<f64> {
        let mut cmd = taskset(pinned, "redis-benchmark");
        if transport == "unix" {
            cmd.args(["-s", sock.to_str().unwrap()]);
        } else {
            cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
        }
        let out = cmd.args(["-t", "set,get", "-n", n, "-c", "1", "--csv"]).args(extra).output().ok()?;
        // "SET","rps",... lines; average SET and GET.
        let text = String::from_utf8_lossy(&out.stdout);
        let rps: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with("\"SET\"") || l.starts_with("\"GET\""))
            .filter_map(|l| l.split(',').nth(1).map(|v| v.trim_matches('"').parse::<f64>().ok()))
            .flatten()
            .collect();
        (!rps.is_empty()).then(|| rps.iter().sum::<f64>() / rps.len() as f64)
    };
    let runs = if quick { 1 } else { 3 };
    let figure = |extra: &[&str]| -> Option<Figure> {
        let mut v: Vec<f64> = (0..runs).filter_map(|_| bench(extra)).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        (!v.is_empty()).then(|| Figure { median: v[v.len() / 2], min: v[0], max: v[v.len() - 1] })
    };
    let sequential = figure(&[]);
    let pipelined = figure(&["-P", "16"]);
    for r in rows.iter_mut() {
        match r.id.as_str() {
            "dict" | "incr" | "lock" => {
                r.redis = sequential.as_ref().map(|f| {
                    // rps to µs per operation (a lock pair is two operations).
                    let k = if r.id == "lock" { 2.0 } else { 1.0 };
                    Figure { median: k * 1e6 / f.median, min: k * 1e6 / f.max, max: k * 1e6 / f.min }
                })
            }
            "pipe64" => r.redis = pipelined.clone(),
            _ => {}
        }
    }
    let _ = server.kill();
    let _ = server.wait();
}
