//! The pool jobs the tests, the examples' checks and `manager-bench` run: the `worker`
//! binary serves [`all`] (its `main` calls `serve_jobs` first), so a pool started with
//! `program` = the worker binary runs them.

use manager_client::{Jobs, job, jobs};
use std::path::Path;
use std::time::Duration;

/// `x²`: the tiny task of the benchmarks.
#[job]
pub fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// A job of two arguments, for `starmap`.
#[job]
pub fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// The worker's pid: which process ran the task.
#[job]
pub fn whoami() -> u32 {
    std::process::id()
}

/// Panics with `message`.
#[job]
pub fn boom(message: String) -> u64 {
    panic!("{message}")
}

/// A typed error: `Err` for odd numbers.
#[job]
pub fn halve(x: u64) -> Result<u64, String> {
    if x.is_multiple_of(2) { Ok(x / 2) } else { Err(format!("{x} is odd")) }
}

/// Writes the worker's pid to `<dir>/started-<pid>`, then waits until `<dir>/go`
/// exists; returns the pid. The test sees which worker runs it, and lets it finish (or
/// kills it) when it chooses.
#[job]
pub fn gate(dir: String) -> u32 {
    let pid = std::process::id();
    let dir = Path::new(&dir);
    let _ = std::fs::write(dir.join(format!("started-{pid}")), b"");
    while !dir.join("go").exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    pid
}

/// The initializer: records `<dir>/init-<pid>-<n>` (n counting this process's runs).
#[job]
pub fn note_init(dir: String) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let _ = std::fs::write(Path::new(&dir).join(format!("init-{}-{n}", std::process::id())), b"");
}

/// Known to the submitter only: the worker does not serve it.
#[job]
pub fn cube(x: u64) -> u64 {
    x.wrapping_mul(x).wrapping_mul(x)
}

/// `square` with another signature: a worker serving the real one refuses it.
#[job(name = "square")]
pub fn square_u32(x: u32) -> u32 {
    x.wrapping_mul(x)
}

/// The jobs the `worker` binary serves (not [`cube`], nor [`square_u32`]).
pub fn all() -> Jobs {
    jobs![square, add, whoami, boom, halve, gate, note_init]
}
