//! A session's relay on the client: carries bytes between the connection's socket and
//! the network link, keeps what the server has not acknowledged, watches the link, and
//! reconnects and resumes when it breaks — the state is
//! `manager_proto::session::Relay`, this is its I/O.

use manager_proto::session::{Relay, SessionId, SessionReply, SessionRequest};
use manager_proto::{Error, ServerId};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::{Params, Status};
use crate::handshake::{Opened, open};
use crate::stream::Stream;

/// Liveness checks per keepalive period: the relay pings an idle link at each, and
/// declares it broken after [`SILENT_TICKS`] checks without a word from the server.
const TICKS_PER_PERIOD: u32 = 2;
const SILENT_TICKS: u32 = 3;

type Reconnecting = Pin<Box<dyn Future<Output = Result<Opened, Error>> + Send>>;

pub(super) struct Run {
    params: Params,
    relay: Relay,
    /// Our end of the socket pair whose other end the connection uses.
    inner: Stream,
    link: Option<Stream>,
    id: SessionId,
    grace: Duration,
    server: ServerId,
    status: Arc<Status>,
    /// While reconnecting: where the resend sent with each attempt's proof ends.
    sent_early: u64,
}

impl Run {
    pub(super) fn new(
        params: Params,
        opened: Opened,
        inner: Stream,
        id: SessionId,
        grace: Duration,
        status: Arc<Status>,
    ) -> Run {
        let Opened { stream, mut decoder, server, .. } = opened;
        let mut relay = Relay::new();
        relay.link_buffer().extend_from_slice(decoder.buffer_mut());
        Run { params, relay, inner, link: Some(stream), id, grace, server, status, sent_early: 0 }
    }

    pub(super) async fn run(mut self) {
        if let Some(error) = self.serve().await {
            tracing::debug!(address = %self.params.address, "{error}");
            self.status.end(error);
        }
        // Dropping our end of the pair ends the connection: with the error recorded,
        // if the session was lost.
    }

    /// Relays until the connection closes (`None`) or the session is lost.
    async fn serve(&mut self) -> Option<Error> {
        let period = (self.params.keepalive / TICKS_PER_PERIOD).max(Duration::from_millis(5));
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut silent = 0u32;
        let mut reconnecting: Option<Reconnecting> = None;
        let mut inner_buf = Vec::with_capacity(64 * 1024);
        let mut inner_closed = false;
        // What came with the handshake, if anything.
        if let Err(e) = self.relay.process_link() {
            return Some(self.lost(format!("the server broke the session's protocol: {e}")));
        }
        loop {
            let inner_blocked = match flush(&self.inner, self.relay.to_inner()) {
                Ok((n, blocked)) => {
                    self.relay.inner_written(n);
                    blocked
                }
                // The connection is gone: nobody is left to tell.
                Err(_) => return None,
            };
            let mut link_blocked = false;
            if let Some(link) = &self.link {
                match flush(link, self.relay.to_link()) {
                    Ok((n, blocked)) => {
                        self.relay.link_written(n);
                        link_blocked = blocked;
                    }
                    Err(e) => reconnecting = self.link_lost(&e.to_string()),
                }
            }
            if inner_closed && (self.link.is_none() || self.relay.to_link().is_empty()) {
                return None;
            }
            if reconnecting.is_none() && self.link.is_none() {
                return Some(self.lost("the session's grace period is zero".into()));
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
                        // The client let go: tell the server the session is over, so it
                        // releases what it held now rather than after the grace period.
                        self.relay.close();
                        inner_closed = true;
                    }
                }
                r = readable(link) => {
                    let Some(link) = self.link.as_ref() else { continue };
                    match r.and_then(|()| link.try_read_buf(self.relay.link_buffer())) {
                        Ok(0) => reconnecting = self.link_lost("closed by the server"),
                        Ok(_) => match self.relay.process_link() {
                            Ok(Some(_closed)) => {
                                // The server ended the session (it shut down, or closed
                                // the connection): what it sent is delivered, then the
                                // connection sees the end.
                                let _ = flush(&self.inner, self.relay.to_inner());
                                return None;
                            }
                            Ok(None) => silent = 0,
                            Err(e) => return Some(self.lost(format!("the server broke the session's protocol: {e}"))),
                        },
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => reconnecting = self.link_lost(&e.to_string()),
                    }
                }
                r = self.inner.writable(), if inner_blocked => {
                    if r.is_err() {
                        return None;
                    }
                }
                r = writable(link), if link_blocked => {
                    if let Err(e) = r {
                        reconnecting = self.link_lost(&e.to_string());
                    }
                }
                _ = ticker.tick() => {
                    if self.link.is_some() {
                        if self.relay.tick() {
                            silent = 0;
                        } else {
                            silent += 1;
                            if silent >= SILENT_TICKS {
                                reconnecting = self.link_lost("the server is silent");
                            }
                        }
                    }
                }
                opened = poll_opt(&mut reconnecting) => {
                    reconnecting = None;
                    silent = 0;
                    if let Err(error) = opened.and_then(|opened| self.adopt(opened)) {
                        return Some(error);
                    }
                }
            }
        }
    }

    fn lost(&self, reason: String) -> Error {
        Error::SessionLost { address: self.params.address.to_string(), reason }
    }

    /// The link broke: reconnect, within the session's grace period.
    fn link_lost(&mut self, why: &str) -> Option<Reconnecting> {
        self.link.take()?;
        tracing::info!(address = %self.params.address, "link to the manager lost ({why}); reconnecting");
        if self.grace.is_zero() {
            return None;
        }
        // What the server has not acknowledged goes with each attempt's proof (the
        // first of it): it needs nothing from the server's answer.
        let (resent_from, early, upto) = self.relay.resend_early();
        self.sent_early = upto;
        let request = SessionRequest::Resume { id: self.id, received: self.relay.received(), resent_from };
        Some(Box::pin(reconnect(self.params.clone(), request, early, Instant::now() + self.grace, self.grace)))
    }

    /// Continues over a new link, if the server still has the session.
    fn adopt(&mut self, opened: Opened) -> Result<(), Error> {
        let Opened { stream, mut decoder, server, session } = opened;
        if server != self.server {
            return Err(Error::ServerRestarted { address: self.params.address.to_string() });
        }
        match session {
            Some(SessionReply::Resumed { received }) => {
                self.relay
                    .resumed(received, self.sent_early)
                    .map_err(|e| self.lost(format!("the server's resume did not match what was sent: {e}")))?;
                // What the server resent with its answer may be here already.
                self.relay.link_buffer().extend_from_slice(decoder.buffer_mut());
                let closed = self
                    .relay
                    .process_link()
                    .map_err(|e| self.lost(format!("the server broke the session's protocol: {e}")))?;
                tracing::info!(address = %self.params.address, "session resumed");
                self.link = Some(stream);
                if closed.is_some() {
                    return Err(self.lost("the server ended the session as it resumed".into()));
                }
                Ok(())
            }
            Some(SessionReply::Unknown) => Err(self.lost(format!(
                "the server no longer has the session (ended, or its grace period of {:?} passed)",
                self.grace
            ))),
            _ => Err(self.lost("the server answered the resume with something else".into())),
        }
    }
}

/// Tries to reconnect with backoff until `deadline`.
async fn reconnect(
    params: Params,
    request: SessionRequest,
    early: Vec<u8>,
    deadline: Instant,
    grace: Duration,
) -> Result<Opened, Error> {
    let mut delay = params.policy.first_delay;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = params.policy.attempt_timeout.min(left);
        let last =
            match open(&params.address, &params.authkey, params.tls.as_ref(), attempt, Some(request), &early).await {
                Ok(opened) => return Ok(opened),
                Err(e) => e,
            };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::SessionLost {
                address: params.address.to_string(),
                reason: format!("no reconnect within the session's grace period of {grace:?} (last attempt: {last})"),
            });
        }
        tracing::debug!(address = %params.address, "reconnect attempt failed: {last}");
        tokio::time::sleep(delay.min(left)).await;
        delay = (delay * 2).min(params.policy.max_delay);
    }
}

/// Writes what the socket takes now of `bytes`: how many, and whether it took fewer.
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

async fn poll_opt(f: &mut Option<Reconnecting>) -> Result<Opened, Error> {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}
