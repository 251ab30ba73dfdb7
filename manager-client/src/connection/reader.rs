//! The reader task: reads responses and routes them to their waiters while no calling
//! thread reads for itself, and watches the server's liveness (a ping when calls wait
//! and the server is quiet; the connection fails when it stays silent).

use manager_proto::{Lost, Request};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::routing::{Read, read_and_route};
use super::writer::coalesce;
use super::{ConnState, lock};

/// Reads responses and hands them to their waiters; watches liveness.
pub(super) async fn reader(state: Arc<ConnState>, keepalive: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ping_sent = false;
    let reason = loop {
        if !state.spin.is_zero() && !lock(&state.in_flight).is_empty() {
            // Low-latency mode: calls are waiting; read without sleeping for a while.
            match read_and_route(&state, |stream, buf| stream.spin_read(buf, state.spin)) {
                Read::Routed(woken) => {
                    ping_sent = false;
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
                    Read::Routed(woken) => {
                        ping_sent = false;
                        coalesce(&state, woken).await;
                    }
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
                state.keep_alive();
                if state.heard.swap(false, Ordering::Relaxed) {
                    // Whoever read it (this task, or a calling thread reading for
                    // itself), the server spoke: a ping we sent was answered or is moot.
                    ping_sent = false;
                    continue;
                }
                if ping_sent {
                    break Lost::Silent(keepalive * 2);
                }
                if !lock(&state.in_flight).is_empty() {
                    // Calls are waiting and the server has been quiet: make sure it is alive.
                    // A real id, so the server answers; nobody waits for it, but
                    // its arrival counts as hearing from the server.
                    let id = state.next_id();
                    let _ = state.send(|buf| Request::Ping.encode(id, buf));
                    ping_sent = true;
                }
            }
        }
    };
    state.fail(reason);
}
