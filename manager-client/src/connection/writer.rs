//! The writer task, which finishes writes the callers could not complete, and the
//! coalescing of requests from callers the reader woke together into one write.

use manager_proto::Lost;
use std::io;
use std::sync::Arc;

use super::{ConnState, lock};

/// After the reader woke several callers at once (calls in flight), lets them run
/// first and writes the requests they send in one go: one write for a batch instead
/// of one per call. A single response is left alone: its caller writes at once, as a
/// sequential caller must.
pub(super) async fn coalesce(state: &ConnState, woken: usize) {
    if woken < 2 {
        return;
    }
    lock(&state.out).coalescing = true;
    // The woken callers are queued ahead of us: they run, and append, now.
    tokio::task::yield_now().await;
    let mut out = lock(&state.out);
    out.coalescing = false;
    if out.queued() {
        // A failure is recorded in the state and reaches every caller.
        let _ = state.write_out(out);
    }
}

/// Finishes writes the callers could not complete.
pub(super) async fn writer(state: Arc<ConnState>) {
    loop {
        tokio::select! {
            () = state.closing.cancelled() => return,
            () = state.wake_writer.notified() => {}
        }
        loop {
            if state.closed().is_some() {
                return;
            }
            let result = {
                let mut out = lock(&state.out);
                if out.pending() == 0 {
                    break;
                }
                state.stream.write_queued(&out.q).map(|n| out.q.advance(n))
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = state.stream.writable().await {
                        state.fail(Lost::write(e));
                        return;
                    }
                }
                Err(e) => {
                    state.hear_last_words();
                    state.fail(Lost::write(e));
                    return;
                }
            }
        }
    }
}
