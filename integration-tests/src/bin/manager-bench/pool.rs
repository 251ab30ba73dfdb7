//! The process pool's rows: tiny tasks (`square`) through `map` (100,000) and
//! `apply_async` (10,000), in tasks/s, beside Python's `multiprocessing.Pool` doing the
//! same in the same run (`bench/pool_bench.py`, same number of processes); and one
//! `apply`'s time, paired with the raw round trip, with the per-task overhead over a
//! direct call printed. This binary is its own pool's workers (`main` calls
//! `serve_jobs` first).

use crate::report::{Figure, Row};
use integration_tests::jobs::square;
use manager_client::PoolOptions;
use manager_client::blocking::Pool;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::workloads::Ctx;

/// The pool's processes: one per core (Python's default too).
pub fn processes() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A pool of [`processes`] workers on `ctx`'s server, ready (every worker registered).
pub fn start(ctx: &Ctx) -> Pool {
    let client = ctx.client();
    let pool = Pool::new(&client, PoolOptions::default().processes(processes())).expect("pool");
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while pool.stats().expect("stats").workers < processes() as u64 {
        assert!(Instant::now() < deadline, "the pool's workers did not start");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    pool
}

/// `n` squares through `map` (Python's default chunk size): tasks/s.
pub fn map(pool: &Pool, n: u64) -> f64 {
    let t = Instant::now();
    let out = pool.map::<square>(0..n).expect("map");
    let rate = n as f64 / t.elapsed().as_secs_f64();
    assert_eq!(out.len() as u64, n);
    rate
}

/// `n` squares through `apply_async`, then every result: tasks/s.
pub fn apply_async(pool: &Pool, n: u64) -> f64 {
    let t = Instant::now();
    let results: Vec<_> = (0..n).map(|i| pool.apply_async::<square>(i)).collect();
    for r in &results {
        r.get(None).expect("apply_async");
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// One `apply` at a time, `n` times: µs per task.
pub fn apply(pool: &Pool, n: u64) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        pool.apply::<square>(i).expect("apply");
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// µs per direct call of the job's function (what a task costs without a pool).
pub fn direct(n: u64) -> f64 {
    let t = Instant::now();
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(integration_tests::jobs::square(std::hint::black_box(i)));
    }
    std::hint::black_box(sum);
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Fills the `python` figures of the pool rows from `bench/pool_bench.py`.
pub fn python(rows: &mut [Row], pinned: bool, quick: bool) {
    if !rows.iter().any(|r| r.id.starts_with("pool-")) {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/pool_bench.py");
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "python3"]);
        c
    } else {
        Command::new("python3")
    };
    // The pinned phase's pool sees one core, so it has one process: so does Python's.
    let n = if pinned { 1 } else { processes() };
    cmd.args([script, "--processes", &n.to_string()]);
    if quick {
        cmd.arg("--quick");
    }
    let out = match cmd.stderr(Stdio::inherit()).output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!("note: the Python pool comparison failed ({}); its column is empty", o.status);
            return;
        }
        Err(e) => {
            eprintln!("note: no python3 ({e}); the Python pool column is skipped");
            return;
        }
    };
    let Ok(figures) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&out.stdout) else {
        eprintln!("note: the Python pool script printed something unexpected");
        return;
    };
    for r in rows.iter_mut() {
        if let Some(v) = figures.get(&r.id) {
            let get = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
            r.python = Some(Figure { median: get("median"), min: get("min"), max: get("max") });
            if let Some(ours) = &r.ours {
                eprintln!("{}: {:.0} vs Python's {:.0}", r.id, ours.median, get("median"));
            }
        }
    }
}
