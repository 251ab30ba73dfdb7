//! How a blocking call is driven: the client's private current-thread runtime, the fast
//! path that lets the calling thread read its own reply, and the keepalive thread that
//! speaks for an idle blocking client.

use manager_proto::blocking::BlockOn;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Wake, Waker};

use crate::connection::ConnState;
use manager_proto::Error;

/// Owns the runtime; shuts it down without blocking, wherever the last reference drops.
///
/// Calls made through it take a fast path where it can: the calling thread sends its
/// request, then sleeps in `recv` on the socket itself and routes what comes — two
/// syscalls per call, no runtime wake-ups. A call made while nobody else reads is
/// answered inside the send (`Conn::exchange`: its id never enters the in-flight map,
/// and its future is ready at the first poll); one that finds the socket taken waits
/// for its response to be routed ([`ConnState::read_until`]). The
/// runtime still runs whenever that cannot serve (another thread already reads, output
/// is queued, a quiet server for a keepalive period, or a future that waits on
/// something else).
#[derive(Debug)]
pub(super) struct Runtime {
    pub(super) rt: Option<tokio::runtime::Runtime>,
    /// The connection whose socket the fast path reads; weak, so that it does not keep
    /// the connection open. Unset: no fast path.
    pub(super) conn: OnceLock<Weak<ConnState>>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The waker of a call driven by the fast path: records that the call can make progress.
#[derive(Debug, Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

thread_local! {
    static WOKEN: Arc<Woken> = Arc::new(Woken::default());
}

impl Runtime {
    fn runtime(&self) -> Result<&tokio::runtime::Runtime, Error> {
        self.rt.as_ref().ok_or_else(|| Error::Config("the blocking client's runtime is gone".into()))
    }

    /// Runs `fut` on the runtime (no fast path).
    fn run_general(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        let rt = self.runtime()?;
        if tokio::runtime::Handle::try_current().is_err() {
            rt.block_on(fut);
            return Ok(());
        }
        // Inside some runtime's context: blocking is fine on a `spawn_blocking` thread
        // and refused by tokio (a panic before the future is first polled) on a thread
        // that drives async tasks. Tokio 1.x answers "may this thread block?" only that
        // way: the state it checks is private, and `block_in_place` needs the multi-
        // thread scheduler and panics on a current-thread runtime's own thread. So try,
        // with that one refusal kept off stderr (`refused_quietly`); a panic once the
        // future runs is the caller's and goes on as one.
        let started = std::cell::Cell::new(false);
        let run = async {
            started.set(true);
            QUIET.with(|quiet| quiet.set(false));
            fut.await;
        };
        match refused_quietly(|| rt.block_on(run)) {
            Ok(()) => Ok(()),
            Err(payload) if started.get() => std::panic::resume_unwind(payload),
            Err(_) => Err(Error::Config(
                "a blocking manager client was used on a thread that runs async tasks; use the async client there \
                 (or call from spawn_blocking)"
                    .into(),
            )),
        }
    }
}

thread_local! {
    /// Set while this thread asks tokio whether it may block: the panic hook then
    /// prints nothing.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic, with the process's panic hook silent on this thread
/// until `f` clears [`QUIET`]. The hook is wrapped once, on first use: other threads'
/// panics, and this thread's after `QUIET` is cleared, print as before.
fn refused_quietly(f: impl FnOnce()) -> std::thread::Result<()> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(false));
    outcome
}

impl BlockOn for Runtime {
    fn block_on_unit(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        self.fast_path(fut, true)
    }

    fn block_on_call_unit(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        // Calls only: they never need the runtime's context (its timers and spawns are
        // the connection tasks'), so the fast path skips entering it — about 120 of
        // the 2,600 instructions of a call.
        self.fast_path(fut, false)
    }
}

impl Runtime {
    /// Polls `fut` on the calling thread, reading its responses there
    /// ([`ConnState::read_until`]), inside the runtime's context if `enter`; hands it to
    /// the runtime when it must wait on anything else.
    fn fast_path(&self, mut fut: Pin<&mut (dyn Future<Output = ()> + '_)>, enter: bool) -> Result<(), Error> {
        let rt = self.runtime()?;
        let state = self.conn.get().and_then(Weak::upgrade);
        let Some(state) = state.filter(|_| tokio::runtime::Handle::try_current().is_err()) else {
            return self.run_general(fut);
        };
        // One flag per thread, reused by its calls: a stale wake from an earlier call
        // only costs an extra poll.
        let woken = WOKEN.with(Arc::clone);
        let waker = Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        // Entered once for the call, not per poll: each entry costs about 150
        // instructions.
        let finished = {
            let _context = enter.then(|| rt.enter());
            // Its calls may read their own replies on this thread: their futures are
            // ready at the first poll.
            let _direct = crate::connection::fast_path::DirectCalls::enable(&state);
            loop {
                woken.0.store(false, Ordering::Relaxed);
                crate::connection::fast_path::clear_waiting();
                if fut.as_mut().poll(&mut cx).is_ready() {
                    break true;
                }
                if !(state.is_awaited_here() && state.read_until(&woken.0)) {
                    break false;
                }
            }
        };
        if finished {
            return Ok(());
        }
        // The runtime's `block_on` polls the future first (with its own waker), so
        // nothing that happened since our last poll is missed.
        rt.block_on(fut);
        Ok(())
    }
}

/// Runs futures on the client's runtime without the fast path: for arbitrary user
/// futures (`Client::block_on`), which may wait on timers or other sockets that only
/// the runtime drives.
#[derive(Debug)]
pub(super) struct General<'a>(pub(super) &'a Runtime);

impl BlockOn for General<'_> {
    fn block_on_unit(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        self.0.run_general(fut)
    }
}

/// The blocking client's runtime runs only during calls, so a quiet client would send
/// nothing; this thread pings for it (without the runtime: the send is a non-blocking
/// write) on whichever connection `current` names (a reconnecting client's new
/// session too), and ends with the client.
pub(super) fn spawn_keepalive(
    current: impl Fn() -> Option<Arc<ConnState>> + Send + 'static,
    period: std::time::Duration,
) {
    let spawned = std::thread::Builder::new().name("manager-keepalive".into()).spawn(move || {
        loop {
            std::thread::sleep(period);
            match current() {
                Some(s) if !s.is_finished() => s.keep_alive(),
                // Over, but the client lives: a reconnecting one opens another.
                Some(_) => {}
                None => return,
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("no keepalive thread for a blocking client ({e}); the server may drop it when idle");
    }
}
