//! What a connection's end releases, however it ends (the client closed, died or broke
//! the protocol, the idle timeout, shutdown): its parked calls are dropped — a parked
//! `get` takes nothing, a parked `acquire` withdraws — or, at shutdown, answered with a
//! shutting-down error; transfers never acknowledged are undone (items go back, locks
//! free); objects it asked to be told are told (its locks and permits are released);
//! every reference it held is released.

use futures_util::stream::FuturesUnordered;
use manager_proto::{NO_RESPONSE, RemoteError, RemoteErrorKind, RequestId, Response};
use std::sync::atomic::Ordering;

use super::parked::catch_panic;
use super::{Connection, FINAL_FLUSH};

impl Connection {
    /// Ends the connection: parked calls answered (at shutdown) or dropped, watchers
    /// told, references released.
    pub(super) async fn close(mut self) {
        let shutting_down = self.shared.shutdown.is_cancelled();
        // Its streams end: subscriptions and cursors are dropped now.
        self.close_streams();
        let parked: Vec<RequestId> = self.parked.drain().map(|(id, _)| id).collect();
        // Dropping the futures withdraws their waits before the watchers release locks.
        let dropped = self.running.len() as u64;
        self.running = FuturesUnordered::new();
        self.shared.stats.parked.fetch_sub(dropped, Ordering::Relaxed);
        if shutting_down {
            for id in parked {
                let e = RemoteError::new(RemoteErrorKind::ShuttingDown, "the server is shutting down");
                self.respond(id, Response::Error(e));
            }
            // Then a notice to no request in particular (id 0): the client tells a
            // server that stopped from a connection that broke. Older clients drop a
            // response to an id they never sent.
            let notice = Response::Error(RemoteError::new(RemoteErrorKind::ShuttingDown, "the server shut down"));
            let _ = self.out.frame(usize::MAX, |out| notice.encode(NO_RESPONSE, out));
            let _ = tokio::time::timeout(FINAL_FLUSH, async {
                while self.pending_out() > 0 {
                    if self.flush().is_err() || self.stream.writable().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
        // Transfers never acknowledged are undone: the items go back, the locks free.
        // (A grant's acknowledgement may still have been on its way: releasing what the
        // connection held is no news, so only transfers count as undone.)
        for (_, (undo, grant)) in self.reserved.drain() {
            if !grant {
                self.shared.stats.undone.fetch_add(1, Ordering::Relaxed);
            }
            if catch_panic(undo).is_err() {
                tracing::error!("undoing a transfer of a closed connection panicked");
            }
        }
        for object in self.ctx.take_watched() {
            let conn = self.ctx.connection();
            if catch_panic(|| object.disconnected(conn)).is_err() {
                tracing::error!(conn, "an object panicked while releasing a closed connection's holdings");
            }
        }
        for (object, _) in self.held.drain() {
            self.shared.table.release(object);
        }
        self.shared.stats.connections.fetch_sub(1, Ordering::Relaxed);
        // Its buffers (and objects only it held) are free now.
        self.shared.table.freed.notify_one();
    }
}
