//! Reconnecting, with sessions that survive a broken link (see
//! `manager_proto::session`). A client with a [`Reconnect`] policy asks the server for a
//! session; its connection then talks to one end of a local socket pair, and a relay on
//! a thread of its own ([`relay`]) carries the bytes over the network link. When the
//! link breaks, the relay reconnects with backoff and resumes the session: each side
//! sends again exactly what the other did not receive, so calls in flight are answered
//! once and run at most once, and the connection above notices nothing but the delay.
//! When the session cannot be resumed (the grace period passed, the server restarted),
//! the relay records why ([`Status`]) and closes its end: every call fails with
//! `SessionLost` or `ServerRestarted`.

mod relay;

use manager_proto::session::{SessionReply, SessionRequest};
use manager_proto::{Address, AuthKey, Error, ServerId};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::handshake::open;
use crate::stream::Stream;

/// How a client reconnects after its link to the server broke (`ClientOptions::
/// reconnect`). The server keeps the session for its grace period (`ServerBuilder::
/// session_grace`, 30 s by default); the client tries until then.
///
/// ```
/// use manager_client::{ClientOptions, Reconnect};
/// let options = ClientOptions { reconnect: Some(Reconnect::default()), ..ClientOptions::default() };
/// assert_eq!(options.reconnect.unwrap().first_delay, std::time::Duration::from_millis(50));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconnect {
    /// Wait before the second attempt (the first is made at once); doubled after each
    /// failed attempt. Default 50 ms.
    pub first_delay: Duration,
    /// The longest wait between attempts. Default 1 s.
    pub max_delay: Duration,
    /// Time allowed to one attempt (connect, handshake, resume). Default 2 s.
    pub attempt_timeout: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(2),
        }
    }
}

/// Why a session ended, once it has: read by the connection to fail its calls with it.
#[derive(Debug, Default)]
pub(crate) struct Status {
    ended: Mutex<Option<Error>>,
}

impl Status {
    pub(crate) fn ended(&self) -> Option<Error> {
        self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn end(&self, error: Error) {
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }
}

/// A session started: the connection's end of the socket pair, the session's status,
/// and the server run.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) inner: Stream,
    pub(crate) status: Arc<Status>,
    pub(crate) server: ServerId,
}

/// What a session's relay needs to know.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) address: Address,
    pub(crate) authkey: AuthKey,
    pub(crate) tls: Option<crate::ClientTls>,
    pub(crate) policy: Reconnect,
    pub(crate) keepalive: Duration,
    pub(crate) connect_timeout: Duration,
}

/// Opens a session: connects and authenticates on the relay's thread (whose runtime
/// serves the link for the session's life, whoever drives the caller's), then hands
/// back the connection's end of the pair.
pub(crate) async fn start(params: Params) -> Result<Started, Error> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let io = |e: std::io::Error| Error::Io(Arc::new(e));
    std::thread::Builder::new()
        .name("manager-session".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(io(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let request = SessionRequest::New { keepalive: params.keepalive };
                let opened = match open(
                    &params.address,
                    &params.authkey,
                    params.tls.as_ref(),
                    params.connect_timeout,
                    Some(request),
                    &[],
                )
                .await
                {
                    Ok(opened) => opened,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let Some(SessionReply::Started { id, grace }) = opened.session else {
                    let _ = tx.send(Err(Error::Protocol("the server did not start the session asked for".into())));
                    return;
                };
                let pair = UnixStream::pair().and_then(|(a, b)| {
                    a.set_nonblocking(true)?;
                    b.set_nonblocking(true)?;
                    Ok((Stream::from_socket(a.into())?, b))
                });
                let (ours, theirs) = match pair {
                    Ok(pair) => pair,
                    Err(e) => {
                        let _ = tx.send(Err(io(e)));
                        return;
                    }
                };
                let status = Arc::new(Status::default());
                let server = opened.server;
                if tx.send(Ok((theirs, Arc::clone(&status), server))).is_err() {
                    return;
                }
                relay::Run::new(params, opened, ours, id, grace, status).run().await;
            });
        })
        .map_err(io)?;
    let (theirs, status, server) =
        rx.await.map_err(|_| Error::Protocol("the session's thread ended before it started".into()))??;
    Ok(Started { inner: Stream::from_socket(theirs.into()).map_err(io)?, status, server })
}
