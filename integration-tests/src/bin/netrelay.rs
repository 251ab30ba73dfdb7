//! `netrelay LISTEN TARGET`: a TCP forwarder the network tests put between a client and
//! a server, to make the path between them misbehave on command.
//!
//! It listens on LISTEN (`HOST:PORT`, port 0 for a free one), prints `listening ADDR`,
//! and forwards every connection it accepts to TARGET, both ways. It obeys one command
//! per line on stdin and acknowledges each with one line on stdout, once it holds
//! (`ok COMMAND`, or `error …` for a line it does not understand):
//!
//! - `hold`: forward no more bytes, either way; connections stay open.
//! - `release`: forward again (what was held goes first), and forget `stall-after`.
//! - `delay MS`: forward each chunk MS milliseconds after it arrived (0: at once).
//! - `drop`: close every current connection, both sides, with a FIN; acknowledged once
//!   they are closed. Later connections are forwarded as usual.
//! - `reset`: the same with a RST (zero linger) instead of a FIN.
//! - `stall-after N`: forward N more bytes (both ways together), then hold.
//! - `status`: answers `status held=BOOL connections=N waiting=N forwarded=N`: whether
//!   it holds, the connections open, the bytes read but not yet forwarded, and those
//!   forwarded since the start; so a test waits for a state instead of guessing a time.
//!
//! It exits when stdin closes. Chunks are forwarded in order, each `delay` after it
//! arrived: a delay is latency, as on a long link, not a cap on throughput.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::time::Instant;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What the commands set and every connection's pumps obey.
#[derive(Clone, Copy, Debug, Default)]
struct Gate {
    /// `hold` (or a spent `stall-after`): no byte is forwarded.
    held: bool,
    /// `delay MS`: how long after its arrival a chunk is forwarded.
    delay: Duration,
    /// `stall-after N`: how many more bytes may pass before the gate holds.
    budget: Option<u64>,
}

/// How a connection is to end: `drop` or `reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kill {
    Fin,
    Rst,
}

/// The relay's shared state: the gate, the open connections, the counts `status` tells.
struct Relay {
    /// Where each accepted connection is forwarded.
    target: SocketAddr,
    /// The gate; a pump waits on it before each write.
    gate: watch::Sender<Gate>,
    /// Tells every current connection to end (connections started later do not see it).
    kill: broadcast::Sender<Kill>,
    /// Ids of the open connections, so `drop` can wait for the ones it closed.
    live: Mutex<HashSet<u64>>,
    /// Notified when a connection ends.
    ended: Notify,
    /// The next connection's id.
    next_id: AtomicU64,
    /// Bytes read and not yet forwarded.
    waiting: AtomicU64,
    /// Bytes forwarded since the start.
    forwarded: AtomicU64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [listen, target] => run(listen, target).await,
        _ => Err("usage: netrelay LISTEN_HOST:PORT TARGET_HOST:PORT".into()),
    };
    if let Err(e) = result {
        eprintln!("netrelay: {e}");
        std::process::exit(1);
    }
}

async fn run(listen: &str, target: &str) -> Result {
    let target: SocketAddr = target.parse().map_err(|e| format!("target {target:?}: {e}"))?;
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let relay = Arc::new(Relay {
        target,
        gate: watch::Sender::new(Gate::default()),
        kill: broadcast::Sender::new(16),
        live: Mutex::default(),
        ended: Notify::new(),
        next_id: AtomicU64::new(0),
        waiting: AtomicU64::new(0),
        forwarded: AtomicU64::new(0),
    });
    println!("listening {}", listener.local_addr()?);
    let accepting = tokio::spawn(accept_loop(listener, relay.clone()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let answer = obey(&relay, line.trim()).await;
        println!("{answer}");
    }
    accepting.abort();
    Ok(())
}

async fn accept_loop(listener: TcpListener, relay: Arc<Relay>) {
    loop {
        match listener.accept().await {
            Ok((inbound, _)) => {
                let id = relay.next_id.fetch_add(1, Ordering::Relaxed);
                relay.live.lock().unwrap_or_else(PoisonError::into_inner).insert(id);
                // Subscribed here, before the next command is read: a `drop` after
                // this accept closes this connection too.
                let kill = relay.kill.subscribe();
                let relay = relay.clone();
                tokio::spawn(async move {
                    if let Err(e) = forward(inbound, &relay, kill).await {
                        eprintln!("netrelay: connection {id}: {e}");
                    }
                    relay.live.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
                    relay.ended.notify_waiters();
                });
            }
            Err(e) => eprintln!("netrelay: accept: {e}"),
        }
    }
}

/// One command: its acknowledgement line.
async fn obey(relay: &Relay, command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["hold"] => relay.gate.send_modify(|g| g.held = true),
        ["release"] => relay.gate.send_modify(|g| {
            g.held = false;
            g.budget = None;
        }),
        ["delay", ms] => match ms.parse::<u64>() {
            Ok(ms) => relay.gate.send_modify(|g| g.delay = Duration::from_millis(ms)),
            Err(_) => return format!("error delay takes milliseconds, not {ms:?}"),
        },
        ["stall-after", n] => match n.parse::<u64>() {
            Ok(n) => relay.gate.send_modify(|g| g.budget = Some(n)),
            Err(_) => return format!("error stall-after takes a byte count, not {n:?}"),
        },
        ["drop"] => kill_all(relay, Kill::Fin).await,
        ["reset"] => kill_all(relay, Kill::Rst).await,
        ["status"] => {
            let held = relay.gate.borrow().held;
            let connections = relay.live.lock().unwrap_or_else(PoisonError::into_inner).len();
            let waiting = relay.waiting.load(Ordering::Relaxed);
            let forwarded = relay.forwarded.load(Ordering::Relaxed);
            return format!("status held={held} connections={connections} waiting={waiting} forwarded={forwarded}");
        }
        _ => return format!("error unknown command {command:?}"),
    }
    format!("ok {command}")
}

/// Ends every current connection and waits until they have closed.
async fn kill_all(relay: &Relay, how: Kill) {
    let current: HashSet<u64> = relay.live.lock().unwrap_or_else(PoisonError::into_inner).clone();
    // No receiver: no connection, nothing to close.
    let _ = relay.kill.send(how);
    loop {
        let ended = relay.ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        if relay.live.lock().unwrap_or_else(PoisonError::into_inner).is_disjoint(&current) {
            return;
        }
        ended.await;
    }
}

/// Forwards one connection both ways until both sides closed, one failed, or a kill.
async fn forward(mut inbound: TcpStream, relay: &Relay, mut kill: broadcast::Receiver<Kill>) -> Result {
    let mut outbound = TcpStream::connect(relay.target).await.map_err(|e| format!("connect {}: {e}", relay.target))?;
    inbound.set_nodelay(true)?;
    outbound.set_nodelay(true)?;
    let how = {
        let (mut in_r, mut in_w) = inbound.split();
        let (mut out_r, mut out_w) = outbound.split();
        let waiting = Waiting { total: &relay.waiting, mine: AtomicU64::new(0) };
        let both = async {
            tokio::try_join!(pump(&mut in_r, &mut out_w, relay, &waiting), pump(&mut out_r, &mut in_w, relay, &waiting))
        };
        tokio::select! {
            done = both => {
                done?;
                None
            }
            how = kill.recv() => how.ok(),
        }
    };
    if how == Some(Kill::Rst) {
        inbound.set_zero_linger()?;
        outbound.set_zero_linger()?;
    }
    // Dropping the sockets closes them: a FIN, or with zero linger a RST.
    Ok(())
}

/// One direction of a connection: a reader that takes chunks as they arrive, stamped
/// with their arrival, and a writer that forwards each through the gate. Apart, so that
/// a delay is latency (chunks in flight together, each `delay` after its arrival), not
/// a cap on throughput; at most [`IN_FLIGHT`] chunks wait between them.
async fn pump(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    relay: &Relay,
    waiting: &Waiting<'_>,
) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    tokio::try_join!(take(from, tx, waiting), give(rx, to, relay, waiting)).map(|_| ())
}

/// One connection's share of [`Relay::waiting`], given back when the connection ends
/// with bytes still held (a `drop`, a `reset`, a failed write).
struct Waiting<'a> {
    total: &'a AtomicU64,
    mine: AtomicU64,
}

impl Waiting<'_> {
    fn add(&self, n: usize) {
        self.mine.fetch_add(n as u64, Ordering::Relaxed);
        self.total.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.mine.fetch_sub(n as u64, Ordering::Relaxed);
        self.total.fetch_sub(n as u64, Ordering::Relaxed);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.total.fetch_sub(*self.mine.get_mut(), Ordering::Relaxed);
    }
}

/// Chunks read and not yet written, per direction: 64 of up to 64 KiB.
const IN_FLIGHT: usize = 64;

/// Reads `from` until its end, passing each chunk on with its arrival time.
async fn take(
    from: &mut (impl AsyncReadExt + Unpin),
    chunks: mpsc::Sender<(Instant, Vec<u8>)>,
    waiting: &Waiting<'_>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // Dropping the sender tells `give` the stream ended.
            return Ok(());
        }
        waiting.add(n);
        if chunks.send((Instant::now(), buf[..n].to_vec())).await.is_err() {
            return Ok(());
        }
    }
}

/// Writes each chunk to `to` through the gate, `delay` after its arrival; at the end of
/// the chunks, shuts `to`'s writing side (its peer sees the end of the stream, as it
/// would without the relay).
async fn give(
    mut chunks: mpsc::Receiver<(Instant, Vec<u8>)>,
    to: &mut (impl AsyncWriteExt + Unpin),
    relay: &Relay,
    waiting: &Waiting<'_>,
) -> std::io::Result<()> {
    let mut gate = relay.gate.subscribe();
    while let Some((arrived, bytes)) = chunks.recv().await {
        let mut chunk = bytes.as_slice();
        while !chunk.is_empty() {
            let delay = gate.wait_for(|g| !g.held).await.map_or(Duration::ZERO, |g| g.delay);
            tokio::time::sleep_until(arrived + delay).await;
            // Take what the budget allows, atomically with the check that the gate is
            // still open (another direction may have spent the budget meanwhile).
            let mut allowed = 0;
            relay.gate.send_if_modified(|g| {
                if g.held {
                    return false;
                }
                allowed = g.budget.map_or(chunk.len(), |b| chunk.len().min(usize::try_from(b).unwrap_or(usize::MAX)));
                if let Some(b) = g.budget.as_mut() {
                    *b -= allowed as u64;
                    if *b == 0 {
                        g.held = true;
                        g.budget = None;
                        return true;
                    }
                }
                false
            });
            if allowed == 0 {
                continue;
            }
            to.write_all(&chunk[..allowed]).await?;
            waiting.sub(allowed);
            relay.forwarded.fetch_add(allowed as u64, Ordering::Relaxed);
            chunk = &chunk[allowed..];
        }
    }
    to.shutdown().await
}
