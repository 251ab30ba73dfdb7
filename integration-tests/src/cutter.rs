//! A TCP forwarder that breaks links on command, for the tests and the benchmark of
//! reconnecting clients: it listens on loopback, forwards each connection to a manager
//! (TCP or Unix), and can cut every connection it carries (both ends see the close),
//! freeze them (nothing passes, nothing closes: only silence tells), refuse new ones,
//! or send new ones to another server. It runs on a thread and runtime of its own, so
//! blocking and async code use it alike.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

/// The forwarder; it stops when dropped.
#[derive(Debug)]
pub struct Cutter {
    /// Where clients connect: `tcp://127.0.0.1:PORT`.
    pub address: String,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
}

#[derive(Debug)]
struct Shared {
    cut: Notify,
    freeze: Notify,
    refusing: AtomicBool,
    target: Mutex<String>,
    /// When each forwarded connection was accepted.
    accepted: Mutex<Vec<Instant>>,
    /// Cuts so far; each forwarding task notes the count it started under, and is
    /// listed here while it runs, so that `cut` can wait for the ones it cut.
    cuts: AtomicU64,
    running: Mutex<Vec<(u64, u64)>>,
    next_task: AtomicU64,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn dial(target: &str) -> std::io::Result<Box<dyn Io>> {
    match target.strip_prefix("unix:") {
        Some(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        None => {
            // TLS passes through as bytes: the forwarder dials the server's port.
            let hostport = target.strip_prefix("tcp://").or_else(|| target.strip_prefix("tls://")).unwrap_or(target);
            let stream = tokio::net::TcpStream::connect(hostport).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream))
        }
    }
}

impl Cutter {
    /// Forwards to `target` (a manager address: `tcp://…` or `unix:…`).
    pub fn start(target: &str) -> Cutter {
        let shared = Arc::new(Shared {
            cut: Notify::new(),
            freeze: Notify::new(),
            refusing: AtomicBool::new(false),
            target: Mutex::new(target.to_owned()),
            accepted: Mutex::new(Vec::new()),
            cuts: AtomicU64::new(0),
            running: Mutex::new(Vec::new()),
            next_task: AtomicU64::new(0),
        });
        let stop = Arc::new(Notify::new());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = format!("tcp://{}", listener.local_addr().expect("address"));
        let (s, st) = (Arc::clone(&shared), Arc::clone(&stop));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let accepted = tokio::select! {
                        () = st.notified() => return,
                        a = listener.accept() => a,
                    };
                    let Ok((mut client, _)) = accepted else { continue };
                    if s.refusing.load(Ordering::SeqCst) {
                        continue;
                    }
                    let _ = client.set_nodelay(true);
                    s.accepted.lock().unwrap().push(Instant::now());
                    let target = s.target.lock().unwrap().clone();
                    let s = Arc::clone(&s);
                    let task = s.next_task.fetch_add(1, Ordering::SeqCst);
                    let under = s.cuts.load(Ordering::SeqCst);
                    s.running.lock().unwrap().push((task, under));
                    tokio::spawn(async move {
                        let (cut, freeze) = (s.cut.notified(), s.freeze.notified());
                        // A cut since this connection was accepted, before the waits
                        // above existed, would not wake them: it counts instead.
                        let cut_already = s.cuts.load(Ordering::SeqCst) > under;
                        if !cut_already && let Ok(mut server) = dial(&target).await {
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                () = cut => {}
                                // Both sockets stay open; nothing passes until a cut.
                                () = freeze => s.cut.notified().await,
                            }
                            drop(server);
                        }
                        drop(client);
                        s.running.lock().unwrap().retain(|(t, _)| *t != task);
                    });
                }
            });
        });
        Cutter { address, shared, stop }
    }

    /// Closes every connection it carries, and returns once they are closed (the
    /// forwarder runs on a thread of its own: without the wait, bytes could still pass
    /// after `cut` returned).
    pub fn cut(&self) {
        let cut = self.shared.cuts.fetch_add(1, Ordering::SeqCst);
        self.shared.cut.notify_waiters();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.shared.running.lock().unwrap().iter().any(|(_, under)| *under <= cut) {
            assert!(
                Instant::now() < deadline,
                "the forwarder did not close its connections: {:?} (cut {cut})",
                self.shared.running.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops every connection it carries without closing it (no FIN, no RST).
    pub fn freeze(&self) {
        self.shared.freeze.notify_waiters();
    }

    /// Closes new connections at once while `refusing`.
    pub fn refuse(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Sends new connections to `target` instead.
    pub fn retarget(&self, target: &str) {
        *self.shared.target.lock().unwrap() = target.to_owned();
    }

    /// Connections forwarded so far.
    pub fn forwarded(&self) -> usize {
        self.shared.accepted.lock().unwrap().len()
    }

    /// When the last forwarded connection was accepted.
    pub fn last_accepted(&self) -> Option<Instant> {
        self.shared.accepted.lock().unwrap().last().copied()
    }
}

impl Drop for Cutter {
    fn drop(&mut self) {
        // No waiting: the forwarder's runtime, and its tasks with it, end with the loop.
        self.shared.cut.notify_waiters();
        self.stop.notify_one();
    }
}
