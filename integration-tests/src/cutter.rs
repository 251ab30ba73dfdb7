//! A TCP forwarder that breaks links on command, for the tests and the benchmark of
//! reconnecting clients: it listens on loopback, forwards each connection to a manager
//! (TCP or Unix), and can cut every connection it carries (both ends see the close),
//! freeze them (nothing passes, nothing closes: only silence tells), refuse new ones,
//! or send new ones to another server. It runs on a thread and runtime of its own, so
//! blocking and async code use it alike.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
                    tokio::spawn(async move {
                        let Ok(mut server) = dial(&target).await else { return };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            () = s.cut.notified() => {}
                            // Both sockets stay open; nothing passes until a cut.
                            () = s.freeze.notified() => s.cut.notified().await,
                        }
                    });
                }
            });
        });
        Cutter { address, shared, stop }
    }

    /// Closes every connection it carries.
    pub fn cut(&self) {
        self.shared.cut.notify_waiters();
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
        self.stop.notify_one();
        self.cut();
    }
}
