//! The cache-line floor: two processes share one page (`shared_page.rs`) and hand a
//! counter back and forth, each busy-polling for the other's write — the least a round
//! trip between two processes on one host can cost, with two cores spinning for it.
//! Unpinned only: pinned to one core, a spinning side waits out the other's time slice.

use crate::shared_page::SharedPage;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long either side polls without seeing the other move before giving up (a peer
/// that died, or a machine too loaded to schedule it).
const PATIENCE: Duration = Duration::from_secs(5);

/// Spins until `counter` holds `want`; false after [`PATIENCE`] without it.
fn await_value(counter: &AtomicU64, want: impl Fn(u64) -> bool) -> Option<u64> {
    let mut since: Option<Instant> = None;
    let mut spins = 0u32;
    loop {
        let v = counter.load(Ordering::Acquire);
        if want(v) {
            return Some(v);
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(4096) {
            let s = *since.get_or_insert_with(Instant::now);
            if s.elapsed() > PATIENCE {
                return None;
            }
        }
    }
}

/// The value that tells the child to exit (after the parent has read its CPU time).
const DONE: u64 = u64::MAX;

/// `n` round trips with a child process: µs per round trip and the CPU µs per round
/// trip of both processes.
pub fn measure(n: usize) -> (f64, f64) {
    let page = SharedPage::create().expect("shared page");
    let path = format!("/proc/{}/fd/{}", std::process::id(), page.fd());
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["pingpong-child", &path, &n.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the ping-pong child");
    let counter = page.counter();
    // The child writes 1 once it has mapped the page.
    await_value(counter, |v| v == 1).expect("the ping-pong child never started");
    let out = crate::cpu::with_cpu(&[child.id()], || {
        let start = Instant::now();
        for i in 1..=n as u64 {
            counter.store(2 * i, Ordering::Release);
            await_value(counter, |v| v == 2 * i + 1).expect("the ping-pong child stopped answering");
        }
        (start.elapsed().as_secs_f64() * 1e6 / n as f64, ())
    });
    counter.store(DONE, Ordering::Release);
    let _ = child.wait();
    out
}

/// The child's side (`pingpong-child PATH N`): answers each even value with the next odd
/// one, `n` times.
pub fn child(path: &str, n: &str) {
    let page = SharedPage::open(path).expect("open the ping-pong page");
    let n: u64 = n.parse().expect("round trips");
    let counter = page.counter();
    counter.store(1, Ordering::Release);
    for i in 1..=n {
        if await_value(counter, |v| v == 2 * i).is_none() {
            eprintln!("pingpong-child: no ping {i} of {n} within {PATIENCE:?}; giving up");
            std::process::exit(1);
        }
        counter.store(2 * i + 1, Ordering::Release);
    }
    // Still here (and spinning) until the parent has read both processes' CPU time.
    let _ = await_value(counter, |v| v == DONE);
}
