//! CPU time per call, beside latency: user + system time of this process (the client)
//! and of the processes it talks to (servers, a ping-pong child), read before and after
//! a measurement — so that a row whose speed comes from a spinning core shows its cost.

use std::time::Instant;

/// Nanoseconds this process has run on a CPU, all threads, exited ones included
/// (`CLOCK_PROCESS_CPUTIME_ID`).
fn self_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Nanoseconds each live thread of another process has run on a CPU, by thread id:
/// the first field of `/proc/<pid>/task/<tid>/schedstat` (nanosecond resolution, where
/// `/proc/<pid>/stat` counts clock ticks).
fn threads_ns(pid: u32) -> std::collections::HashMap<String, u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Default::default() };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| {
            let s = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            Some((t.file_name().to_string_lossy().into_owned(), s.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// What the threads in `after` ran since `before`: a thread that exited in between takes
/// its time with it (the servers measured keep theirs: see [`with_cpu`]), and one that
/// started counts from zero.
fn since(before: &std::collections::HashMap<String, u64>, after: &std::collections::HashMap<String, u64>) -> u64 {
    after.iter().map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0))).sum()
}

/// Runs `f`, which returns a latency per call in µs (and something to drop only once
/// the CPU time is read: a connection whose server thread would exit with it), and
/// returns that latency with the CPU µs per call of this process and the `others`
/// together: the CPU they used over `f`'s wall time, scaled to one call (CPU per call =
/// latency × CPU time ÷ wall time).
pub fn with_cpu<T>(others: &[u32], f: impl FnOnce() -> (f64, T)) -> (f64, f64) {
    let threads = || others.iter().map(|&p| threads_ns(p)).collect::<Vec<_>>();
    let (self_before, before) = (self_ns(), threads());
    let start = Instant::now();
    let (per_call, keep) = f();
    let wall = start.elapsed().as_nanos() as f64;
    let (self_after, after) = (self_ns(), threads());
    drop(keep);
    let used =
        self_after.saturating_sub(self_before) + before.iter().zip(&after).map(|(b, a)| since(b, a)).sum::<u64>();
    (per_call, if wall > 0.0 { per_call * used as f64 / wall } else { 0.0 })
}
