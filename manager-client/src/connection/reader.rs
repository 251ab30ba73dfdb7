//! The reader task: reads responses and routes them to their waiters while no calling
//! thread reads for itself, and watches the server's liveness (a ping when calls wait
//! and the server is quiet; the connection fails when it stays silent).

use manager_proto::Lost;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::liveness::Verdict;
use super::routing::{Read, read_and_route};
use super::writer::coalesce;
use super::{ConnState, lock};

/// How many liveness checks the reader makes per keepalive period.
const CHECKS_PER_PERIOD: u32 = 4;

/// Reads responses and hands them to their waiters; watches liveness.
pub(super) async fn reader(state: Arc<ConnState>) {
    // Four checks per period: a silent server is declared lost within two and a half
    // periods of the last word heard (`liveness.rs`).
    let tick = (state.liveness.keepalive / CHECKS_PER_PERIOD).max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    let reason = loop {
        if (!state.spin.is_zero() || state.stream.over_rings()) && !lock(&state.in_flight).is_empty() {
            // Low-latency mode (or shared memory, for its adaptive budget): calls are
            // waiting; read without sleeping for a while.
            match read_and_route(&state, |stream, buf| stream.spin_read(buf, state.spin)) {
                Read::Routed(woken) => {
                    coalesce(&state, woken).await;
                    continue;
                }
                Read::Nothing | Read::Taken => {}
                Read::Failed(reason) => break reason,
            }
        }
        tokio::select! {
            () = state.closing.cancelled() => return,
            ready = std::future::poll_fn(|cx| state.stream.poll_readable(cx)) => {
                if let Err(e) = ready {
                    break Lost::read(e);
                }
                match read_and_route(&state, |stream, buf| stream.try_read_buf(buf)) {
                    Read::Routed(woken) => coalesce(&state, woken).await,
                    Read::Nothing => {}
                    Read::Taken => {
                        // A blocking client's calling thread is reading and routes what
                        // comes; wait until it lets go.
                        tokio::select! {
                            () = state.closing.cancelled() => return,
                            () = state.read_released.notified() => {}
                        }
                    }
                    Read::Failed(reason) => break reason,
                }
            }
            _ = ticker.tick() => {
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(CHECKS_PER_PERIOD) {
                    state.keep_alive();
                }
                // Whoever read (this task, or a calling thread reading for itself), the
                // server spoke if `heard` is set: a ping we sent is answered or moot.
                let heard = state.heard.swap(false, Ordering::Relaxed);
                let waiting = !lock(&state.in_flight).is_empty();
                match state.liveness.check(heard, waiting, Duration::ZERO) {
                    Verdict::Fine => {}
                    Verdict::Ping => state.ping(),
                    Verdict::Lost if state.silence_is_fatal() => break state.silent(),
                    Verdict::Lost => {}
                }
            }
        }
    };
    state.fail(reason);
}
