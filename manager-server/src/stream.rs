//! One accepted socket, TCP or Unix, used through readiness and non-blocking reads and
//! writes so one task can read requests, run calls and write replies with no hand-off.
//!
//! The socket is registered with the runtime for readability only. A Unix socket
//! signals write space (`EPOLLOUT`) every time the peer reads what we sent: registered
//! for both, the connection's thread was woken for nothing after every reply, one
//! extra context switch per call. Waiting for room to write (rare: a reply larger than
//! the socket buffer) registers a duplicate of the descriptor for writability, for that
//! wait only.

use manager_proto::outq::OutQueue;
use manager_proto::ring::Pace;
use rustix::buffer::spare_capacity;
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendFlags};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::rings::RingLink;
use crate::tls_session::Session;

/// An accepted connection.
#[derive(Debug)]
pub(crate) struct Stream {
    fd: AsyncFd<OwnedFd>,
    /// The TLS session, on a `tls://` listener's connection (`tls_session.rs`): reads
    /// and writes go through it; the plain path pays one branch on an empty option.
    tls: Option<Box<Session>>,
    /// The shared-memory rings, on a connection that switched to them after its
    /// handshake (`rings/`): reads and writes go through them, the socket only says
    /// when the peer is gone.
    rings: Option<Box<RingLink>>,
}

/// Registers `fd` with the current runtime for `interest`.
#[allow(unsafe_code)]
pub(crate) fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: tokio needs the descriptor to stay open, and the same, while registered.
    // An `OwnedFd` owned by the `AsyncFd` is closed only when the `AsyncFd` drops (after
    // deregistering), and its `as_raw_fd` never changes.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}

impl Stream {
    /// Takes over a connected, non-blocking socket.
    pub(crate) fn new(socket: impl Into<OwnedFd>) -> io::Result<Stream> {
        Ok(Stream { fd: register(socket.into(), Interest::READABLE)?, tls: None, rings: None })
    }

    /// Takes over a connected, non-blocking socket whose peer speaks TLS; its handshake
    /// is still to run ([`Stream::tls_handshake`]).
    pub(crate) fn new_tls(
        socket: impl Into<OwnedFd>,
        config: &std::sync::Arc<rustls::ServerConfig>,
    ) -> io::Result<Stream> {
        let session = rustls::ServerConnection::new(std::sync::Arc::clone(config)).map_err(io::Error::other)?;
        Ok(Stream {
            fd: register(socket.into(), Interest::READABLE)?,
            tls: Some(Box::new(Session::new(session.into()))),
            rings: None,
        })
    }

    /// The same socket without its TLS session: to tell a peer that does not speak TLS
    /// why it is refused, in the words it does speak.
    pub(crate) fn into_plain(self) -> Stream {
        Stream { fd: self.fd, tls: None, rings: None }
    }

    /// Whether this is a Unix socket (the only kind that can carry the rings' descriptors).
    pub(crate) fn is_unix(&self) -> bool {
        rustix::net::sockopt::socket_domain(self.fd.get_ref()).is_ok_and(|d| d == rustix::net::AddressFamily::UNIX)
    }

    /// Sends `bytes` with `fds` attached (`SCM_RIGHTS`), waiting for room as needed.
    pub(crate) async fn send_with_fds(&self, bytes: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) -> io::Result<()> {
        use rustix::net::{SendAncillaryMessage, sendmsg};
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        loop {
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !control.push(SendAncillaryMessage::ScmRights(fds)) {
                return Err(io::Error::other("too many descriptors for one message"));
            }
            let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
            match sendmsg(self.fd.get_ref(), &[io::IoSlice::new(bytes)], &mut control, flags) {
                // The descriptors went with the first byte; the rest is plain.
                Ok(n) => return self.write_all(&bytes[n..]).await,
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => self.writable().await?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// From now on, reads and writes go through `rings` (after the offer that carried
    /// them went out on the socket).
    pub(crate) fn attach_rings(&mut self, rings: RingLink) {
        self.rings = Some(Box::new(rings));
    }

    /// Whether the connection speaks through shared-memory rings.
    pub(crate) fn over_rings(&self) -> bool {
        self.rings.is_some()
    }

    /// Runs the TLS handshake, if this is a TLS connection. An error carrying
    /// `tls_session::NotTls` when the peer's first bytes are not TLS.
    pub(crate) async fn tls_handshake(&self) -> io::Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        loop {
            match tls.flush(self.fd.get_ref().as_fd()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable().await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            if !tls.is_handshaking() {
                return Ok(());
            }
            // Through the cached readiness, cleared when the socket has nothing.
            match self.fd.try_io(Interest::READABLE, |fd| tls.handshake_read(fd.as_fd())) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable().await?,
                other => other?,
            }
        }
    }

    /// Polls for read readiness through the descriptor's one reader-waker slot — for the
    /// connection's own loop, its only reader. A `readable()` future instead links
    /// itself into the descriptor's waiter list on each wait and unlinks on the next,
    /// about 200 instructions per request more.
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(rings) = &self.rings {
            return rings.poll_readable(&self.fd, cx);
        }
        if let Some(tls) = &self.tls
            && tls.pending()
        {
            return std::task::Poll::Ready(Ok(()));
        }
        // Dropping the guard keeps the readiness: the next read finds out.
        self.fd.poll_read_ready(cx).map_ok(drop)
    }

    pub(crate) async fn readable(&self) -> io::Result<()> {
        if self.rings.is_some() {
            return std::future::poll_fn(|cx| self.poll_readable(cx)).await;
        }
        // Dropping the guard keeps the readiness: the next read finds out.
        self.fd.readable().await.map(drop)
    }

    /// Waits until the socket has room to write.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        if let Some(rings) = &self.rings {
            return rings.writable(&self.fd).await;
        }
        let dup = register(self.fd.get_ref().try_clone()?, Interest::WRITABLE)?;
        dup.writable().await.map(drop)
    }

    /// Reads what is available into the spare capacity of `buf` (growing it if full).
    ///
    /// A read that comes back short of the room it was given drained the socket: like
    /// tokio's own `poll_read`, we then clear the cached readiness (only if no new event
    /// arrived since the read began), so the next wait parks at once instead of paying a
    /// read syscall that can only say `WouldBlock` — one syscall less per message.
    pub(crate) fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if let Some(rings) = &self.rings {
            return rings.try_read_buf(&self.fd, buf);
        }
        if let Some(tls) = &self.tls
            && tls.pending()
        {
            return tls.read(self.fd.get_ref().as_fd(), buf, RecvFlags::DONTWAIT).map(|(got, _)| got);
        }
        let mut got = 0;
        let read = self.fd.try_io(Interest::READABLE, |fd| {
            let drained = if let Some(tls) = &self.tls {
                let (n, drained) = tls.read(fd.as_fd(), buf, RecvFlags::DONTWAIT)?;
                got = n;
                drained
            } else {
                let room = reserve(buf);
                got = recv(fd, buf)?;
                got < room
            };
            if 0 < got && drained { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(got) }
        });
        match read {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
            other => other,
        }
    }

    /// Reads for up to `spin` without sleeping, appending to `buf` (low-latency mode),
    /// with a read's answers: bytes read, 0 when the peer closed, `WouldBlock` when none
    /// came in time. Raw `recv` calls: the cached readiness would never see data arrive
    /// while we spin. Over rings, `pace` says how to wait between looks at the ring
    /// (a socket's reads are syscalls: they pause anyway).
    pub(crate) fn spin_read(&self, buf: &mut Vec<u8>, spin: Duration, pace: Pace) -> io::Result<usize> {
        if let Some(rings) = &self.rings {
            return rings.spin_read(buf, spin, pace);
        }
        let deadline = Instant::now() + spin;
        loop {
            let read = match &self.tls {
                Some(tls) => tls.read(self.fd.get_ref().as_fd(), buf, RecvFlags::DONTWAIT).map(|(got, _)| got),
                None => {
                    reserve(buf);
                    recv(self.fd.get_ref(), buf)
                }
            };
            match read {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::hint::spin_loop();
                }
                other => return other,
            }
        }
    }

    /// Writes what the socket takes now; `WouldBlock` if it takes nothing.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if let Some(rings) = &self.rings {
            return rings.try_write(buf);
        }
        if let Some(tls) = &self.tls {
            return tls.write(self.fd.get_ref().as_fd(), buf);
        }
        loop {
            match rustix::net::send(self.fd.get_ref(), buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes what the socket takes now of `q`'s unwritten bytes (one `send`, or one
    /// `sendmsg` when a large body is queued as a segment of its own); `WouldBlock` if
    /// it takes nothing.
    pub(crate) fn write_queued(&self, q: &OutQueue) -> io::Result<usize> {
        if let Some(bytes) = q.contiguous() {
            return self.try_write(bytes);
        }
        let (slices, n) = q.slices();
        if let Some(rings) = &self.rings {
            return rings.write_slices(&slices[..n]);
        }
        if let Some(tls) = &self.tls {
            let first = slices[..n].iter().find(|s| !s.is_empty()).map_or(&[][..], |s| &s[..]);
            return tls.write(self.fd.get_ref().as_fd(), first);
        }
        loop {
            let mut control = SendAncillaryBuffer::default();
            let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
            match rustix::net::sendmsg(self.fd.get_ref(), &slices[..n], &mut control, flags) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes all of `buf`, waiting for room as needed.
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.try_write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until `buf` grows, or the peer closes (returns 0).
    pub(crate) async fn read_some(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable().await?,
                other => return other,
            }
        }
    }
}

/// Makes room for a read in `buf`; returns the room.
fn reserve(buf: &mut Vec<u8>) -> usize {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    buf.capacity() - buf.len()
}

/// One non-blocking `recv(2)` into the spare capacity of `buf`.
fn recv(fd: &OwnedFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        match rustix::net::recv(fd.as_fd(), spare_capacity(buf), RecvFlags::DONTWAIT) {
            Ok((got, _)) => return Ok(got),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
