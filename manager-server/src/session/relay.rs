//! A session's relay: carries bytes between the connection task's socket and the
//! network link, keeps what the client has not acknowledged, and waits out a broken
//! link for the grace period — the state is `manager_proto::session::Relay`, this is
//! its I/O.

use manager_proto::session::{Relay, SessionReply};
use std::io;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::auth::write_frame;
use crate::sessions::NewLink;
use crate::stream::Stream;

/// Ticks without a word from the client before its link counts as broken (it speaks
/// at least once per keepalive period).
const SILENT_TICKS: u32 = 3;

/// A session's relay and what it works with.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) relay: Relay,
    /// Our end of the socket pair whose other end the connection task serves.
    pub(super) inner: Stream,
    /// The network link, while there is one.
    pub(super) link: Option<Stream>,
    pub(super) resumes: mpsc::UnboundedReceiver<NewLink>,
    pub(super) grace: Duration,
    pub(super) keepalive: Duration,
    pub(super) peer: String,
}

/// Why a relay stopped.
#[derive(Debug)]
enum End {
    /// The connection task ended (the server shuts down, or closed the connection).
    InnerClosed,
    /// The client closed the session.
    ClientClosed,
    /// No link came back within the grace period.
    Expired,
    /// The client broke the link protocol.
    Broken(String),
}

impl Run {
    pub(super) async fn run(mut self) {
        let end = self.serve().await;
        match &end {
            End::InnerClosed | End::ClientClosed => {
                tracing::debug!(peer = %self.peer, "session ended: {end:?}")
            }
            End::Expired => {
                tracing::info!(peer = %self.peer, grace = ?self.grace, "session expired: no reconnect within the grace period")
            }
            End::Broken(why) => tracing::warn!(peer = %self.peer, "session ended: {why}"),
        }
        // Dropping our end of the pair ends the connection task, which releases
        // everything the session held.
    }

    async fn serve(&mut self) -> End {
        let period = self.keepalive.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut silent = 0u32;
        let mut expires: Option<Instant> = None;
        let mut inner_buf = Vec::with_capacity(64 * 1024);
        let mut inner_closed = false;
        // What came with the handshake, if anything.
        if let Err(e) = self.relay.process_link() {
            return End::Broken(e.to_string());
        }
        loop {
            // Write what is waiting, as far as the sockets take it now.
            let inner_blocked = match flush(&self.inner, self.relay.to_inner()) {
                Ok((n, blocked)) => {
                    self.relay.inner_written(n);
                    blocked
                }
                Err(_) => return End::InnerClosed,
            };
            let mut link_blocked = false;
            if let Some(link) = &self.link {
                match flush(link, self.relay.to_link()) {
                    Ok((n, blocked)) => {
                        self.relay.link_written(n);
                        link_blocked = blocked;
                    }
                    Err(e) => expires = self.link_lost(&e.to_string()),
                }
            }
            if inner_closed && self.relay.to_link().is_empty() {
                return End::InnerClosed;
            }
            if inner_closed && self.link.is_none() {
                return End::InnerClosed;
            }
            let take_inner = !inner_closed && self.relay.can_take_inner();
            let link = self.link.as_ref();
            tokio::select! {
                r = self.inner.readable(), if take_inner => {
                    let closed = match r.and_then(|()| self.inner.try_read_buf(&mut inner_buf)) {
                        Ok(0) => true,
                        Ok(_) => false,
                        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                    };
                    if !inner_buf.is_empty() {
                        self.relay.from_inner(&inner_buf);
                        inner_buf.clear();
                    }
                    if closed {
                        // The connection task is gone (the server shuts down, or it
                        // ended the connection): the client hears that the session is
                        // over once what it said is sent.
                        self.relay.close();
                        inner_closed = true;
                    }
                }
                r = readable(link) => {
                    let Some(link) = self.link.as_ref() else { continue };
                    let read = r.and_then(|()| link.try_read_buf(self.relay.link_buffer()));
                    match read {
                        Ok(0) => expires = self.link_lost("closed by the client"),
                        Ok(_) => match self.relay.process_link() {
                            Ok(Some(_closed)) => return End::ClientClosed,
                            Ok(None) => silent = 0,
                            Err(e) => return End::Broken(e.to_string()),
                        },
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => expires = self.link_lost(&e.to_string()),
                    }
                }
                r = self.inner.writable(), if inner_blocked => {
                    if r.is_err() {
                        return End::InnerClosed;
                    }
                }
                r = writable(link), if link_blocked => {
                    if let Err(e) = r {
                        expires = self.link_lost(&e.to_string());
                    }
                }
                _ = ticker.tick() => {
                    if self.link.is_some() {
                        if self.relay.tick() {
                            silent = 0;
                        } else {
                            silent += 1;
                            if silent >= SILENT_TICKS {
                                expires = self.link_lost("silent");
                            }
                        }
                    }
                }
                new = self.resumes.recv() => {
                    let Some(new) = new else { return End::Expired };
                    match self.adopt(new).await {
                        Ok(()) => {
                            expires = None;
                            silent = 0;
                        }
                        Err(end) => return end,
                    }
                }
                () = sleep_until(expires) => return End::Expired,
            }
        }
    }

    /// The link broke: wait for another until the grace period ends.
    fn link_lost(&mut self, why: &str) -> Option<Instant> {
        if self.link.take().is_some() {
            tracing::info!(peer = %self.peer, grace = ?self.grace, "session link lost ({why}); waiting for the client");
        }
        Some(Instant::now() + self.grace)
    }

    /// Continues the session over a new link.
    async fn adopt(&mut self, mut new: NewLink) -> Result<(), End> {
        self.relay.resume(new.received, new.resent_from).map_err(|e| End::Broken(format!("resume refused: {e}")))?;
        let reply = SessionReply::Resumed { received: self.relay.received() };
        if let Err(e) = write_frame(&new.stream, &reply.encode()).await {
            // That link broke too; the client will try again.
            tracing::info!(peer = %new.peer, "session resume not delivered: {e}");
            return Ok(());
        }
        // What the client resent with its proof is here already: no read will bring it.
        self.relay.link_buffer().extend_from_slice(new.decoder.buffer_mut());
        match self.relay.process_link() {
            Ok(Some(_closed)) => return Err(End::ClientClosed),
            Ok(None) => {}
            Err(e) => return Err(End::Broken(e.to_string())),
        }
        tracing::info!(peer = %new.peer, "session resumed");
        self.peer = new.peer;
        self.link = Some(new.stream);
        Ok(())
    }
}

/// Writes what `bytes` the socket takes now: how many, and whether it took fewer.
fn flush(stream: &Stream, bytes: &[u8]) -> io::Result<(usize, bool)> {
    let mut done = 0;
    while done < bytes.len() {
        match stream.try_write(&bytes[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((done, true)),
            Err(e) => return Err(e),
        }
    }
    Ok((done, false))
}

async fn readable(link: Option<&Stream>) -> io::Result<()> {
    match link {
        Some(link) => link.readable().await,
        None => std::future::pending().await,
    }
}

async fn writable(link: Option<&Stream>) -> io::Result<()> {
    match link {
        Some(link) => link.writable().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
