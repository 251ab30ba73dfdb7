//! The client's socket, TCP or Unix, shared by callers (who write directly when the
//! socket has room), the writer task (which finishes what they could not) and the
//! reader task — or, in a blocking client, the calling thread that reads its own
//! response.
//!
//! Reads and writes are raw `recv`/`send` calls (rustix) with `MSG_DONTWAIT` rather
//! than tokio's, so that a blocking client can clear `O_NONBLOCK` and sleep in `recv`
//! on its calling thread while everything tokio does on the socket stays non-blocking.
//!
//! A `tls://` connection is the same socket with a TLS session beside it
//! (`tls_session.rs`): each read and write goes through rustls on the calling thread,
//! the plain path pays one branch on an empty option.

use manager_proto::outq::OutQueue;
use manager_proto::{Address, Error};
use rustix::buffer::spare_capacity;
use rustix::net::sockopt::Timeout;
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendFlags};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;

use crate::rings::RingLink;
use crate::shm::region::RingMapping;
use crate::tls::{ClientTls, explain};
use crate::tls_session::Session;

/// A connection's socket, registered with the runtime for readability only: a Unix
/// socket signals write space every time the peer reads what we sent, and registered
/// for both, the reader was woken for nothing after every request. Waiting for room to
/// write registers a duplicate of the descriptor for writability, for that wait only.
#[derive(Debug)]
pub(crate) struct Stream {
    fd: AsyncFd<OwnedFd>,
    /// The TLS session, on a `tls://` connection.
    tls: Option<Box<Session>>,
    /// The shared-memory rings, once the server's offer brought them (`rings.rs`):
    /// reads and writes go through them, the socket only says when the server is gone.
    rings: Option<Box<RingLink>>,
}

/// Registers `fd` with the current runtime for `interest`.
#[allow(unsafe_code)]
fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: tokio needs the descriptor to stay open, and the same, while registered.
    // An `OwnedFd` owned by the `AsyncFd` is closed only when the `AsyncFd` drops (after
    // deregistering), and its `as_raw_fd` never changes.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}

impl Stream {
    /// Opens a socket to `address` within `timeout`; for a `tls://` address, runs the
    /// TLS handshake with `tls` within the same time.
    pub(crate) async fn connect(
        address: &Address,
        timeout: Duration,
        tls: Option<&ClientTls>,
    ) -> Result<Stream, Error> {
        let connect_err = |source: io::Error| Error::Connect { address: address.to_string(), source: Arc::new(source) };
        let session = match (address, tls) {
            (Address::Tls(_), Some(tls)) => Some(Box::new(Session::new(tls.session(address)?.into()))),
            (Address::Tls(_), None) => {
                return Err(Error::Config(format!(
                    "{address} is a TLS address, but no TLS trust is configured: set ClientOptions::tls \
                     (ClientTls::ca_file or ClientTls::pinned_file), or {} for Client::from_env",
                    crate::env::TLS_CA_VAR
                )));
            }
            _ => None,
        };
        let connecting = async {
            let socket: OwnedFd = match address {
                Address::Tcp(hostport) | Address::Tls(hostport) => {
                    let s = TcpStream::connect(hostport.as_str()).await?;
                    s.set_nodelay(true)?;
                    s.into_std()?.into()
                }
                Address::Unix(path) => connect_unix(path)?,
            };
            let stream = Stream { fd: register(socket, Interest::READABLE)?, tls: session, rings: None };
            stream.tls_handshake().await?;
            Ok(stream)
        };
        match tokio::time::timeout(timeout, connecting).await {
            Ok(r) => r.map_err(|e| explain(address, tls, &e).unwrap_or_else(|| connect_err(e))),
            Err(_) => {
                Err(connect_err(io::Error::new(io::ErrorKind::TimedOut, format!("no connection within {timeout:?}"))))
            }
        }
    }

    /// Takes over a connected, non-blocking socket (a session's end of a socket pair).
    pub(crate) fn from_socket(socket: OwnedFd) -> io::Result<Stream> {
        Ok(Stream { fd: register(socket, Interest::READABLE)?, tls: None, rings: None })
    }

    /// Reads what is available into `buf`, keeping any descriptors that came with it
    /// (`SCM_RIGHTS`) in `fds`; `WouldBlock` when nothing is there.
    pub(crate) fn recv_with_fds(&self, buf: &mut Vec<u8>, fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, recvmsg};
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        // Handshake messages are small: a buffer on the stack, appended to `buf`.
        let mut scratch = [0u8; 1024];
        let got = self.fd.try_io(Interest::READABLE, |fd| {
            loop {
                let mut iov = [io::IoSliceMut::new(&mut scratch)];
                match recvmsg(fd.as_fd(), &mut iov, &mut control, RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC) {
                    Ok(msg) => return Ok(msg.bytes),
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(io::Error::from(e)),
                }
            }
        })?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        buf.extend_from_slice(&scratch[..got]);
        Ok(got)
    }

    /// From now on, reads and writes go through the rings in `mapping`, with the
    /// bells the offer brought (in `manager_proto::session::RING_FDS` order, after the
    /// segment).
    pub(crate) fn attach_rings(&mut self, mapping: RingMapping, bells: [OwnedFd; 4]) -> io::Result<()> {
        let [data, space, server_data, server_space] = bells;
        let link = RingLink::new(
            mapping,
            register(data, Interest::READABLE)?,
            register(space, Interest::READABLE)?,
            server_data,
            server_space,
        );
        self.rings = Some(Box::new(link));
        Ok(())
    }

    /// Whether reads go through shared-memory rings.
    pub(crate) fn over_rings(&self) -> bool {
        self.rings.is_some()
    }

    /// Runs the TLS handshake, if this is a TLS connection.
    async fn tls_handshake(&self) -> io::Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        loop {
            match tls.flush(self.fd()) {
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
    /// reader task, the socket's only reader once the handshake is done. A `readable()`
    /// future instead links itself into the descriptor's waiter list on each wait and
    /// unlinks on the next.
    pub(crate) fn poll_readable(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
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

    /// The socket's descriptor, for the raw `recv`/`send` calls below.
    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
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
            return tls.write(self.fd(), first);
        }
        loop {
            let mut control = SendAncillaryBuffer::default();
            let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
            match rustix::net::sendmsg(self.fd(), &slices[..n], &mut control, flags) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
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
            return tls.read(self.fd(), buf, RecvFlags::DONTWAIT).map(|(got, _)| got);
        }
        let mut got = 0;
        let read = self.fd.try_io(Interest::READABLE, |fd| {
            let drained = if let Some(tls) = &self.tls {
                let (n, drained) = tls.read(fd.as_fd(), buf, RecvFlags::DONTWAIT)?;
                got = n;
                drained
            } else {
                let room = reserve(buf);
                got = recv(fd.as_fd(), buf, RecvFlags::DONTWAIT)?;
                got < room
            };
            if 0 < got && drained { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(got) }
        });
        match read {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
            other => other,
        }
    }

    /// Lets [`Stream::recv_blocking`] sleep in the kernel until bytes come, for at most
    /// `timeout` per call. Every other read and write passes `MSG_DONTWAIT`, so tokio's
    /// side of the socket stays non-blocking.
    pub(crate) fn allow_blocking_reads(&self, timeout: Duration) -> io::Result<()> {
        if let Some(rings) = &self.rings {
            rings.set_read_timeout(timeout.max(Duration::from_millis(1)));
            return Ok(());
        }
        rustix::io::ioctl_fionbio(self.fd(), false)?;
        rustix::net::sockopt::set_socket_timeout(
            self.fd(),
            Timeout::Recv,
            Some(timeout.max(Duration::from_millis(1))),
        )?;
        Ok(())
    }

    /// Reads into `buf`, sleeping in the kernel until bytes come (the blocking client's
    /// calling thread, after [`Stream::allow_blocking_reads`]): one syscall where a
    /// runtime needs three. `WouldBlock` when the receive timeout passed first; 0 when
    /// the peer closed.
    pub(crate) fn recv_blocking(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if let Some(rings) = &self.rings {
            return rings.recv_blocking(self.fd(), buf);
        }
        self.read_raw(buf, RecvFlags::empty())
    }

    /// One read with `flags`, through the TLS session if there is one.
    fn read_raw(&self, buf: &mut Vec<u8>, flags: RecvFlags) -> io::Result<usize> {
        if let Some(tls) = &self.tls {
            return tls.read(self.fd(), buf, flags).map(|(got, _)| got);
        }
        reserve(buf);
        recv(self.fd(), buf, flags)
    }

    /// Reads for up to `spin` without sleeping, appending to `buf` (low-latency mode),
    /// with a read's answers: bytes read, 0 when the peer closed, `WouldBlock` when none
    /// came in time. Raw `recv` calls: the cached readiness would never see data arrive
    /// while we spin.
    pub(crate) fn spin_read(&self, buf: &mut Vec<u8>, spin: Duration) -> io::Result<usize> {
        self.poll_recv(buf, spin, std::hint::spin_loop)
    }

    /// Like [`Stream::spin_read`], but gives the CPU to any other runnable thread between
    /// tries (`sched_yield`), so that a peer sharing this core is not kept waiting.
    pub(crate) fn yielding_read(&self, buf: &mut Vec<u8>, spin: Duration) -> io::Result<usize> {
        self.poll_recv(buf, spin, std::thread::yield_now)
    }

    fn poll_recv(&self, buf: &mut Vec<u8>, spin: Duration, between_tries: fn()) -> io::Result<usize> {
        if let Some(rings) = &self.rings {
            // Zero: the adaptive budget.
            return rings.spin_read(buf, (!spin.is_zero()).then_some(spin));
        }
        let deadline = Instant::now() + spin;
        loop {
            match self.read_raw(buf, RecvFlags::DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => between_tries(),
                other => return other,
            }
        }
    }

    /// Writes what the socket takes now; `WouldBlock` if it takes nothing.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if let Some(rings) = &self.rings {
            return rings.write_slices(&[io::IoSlice::new(buf)]);
        }
        if let Some(tls) = &self.tls {
            return tls.write(self.fd(), buf);
        }
        loop {
            match rustix::net::send(self.fd(), buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
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

/// Connects to a Unix socket. A local connect completes at once or fails (`EAGAIN` when
/// the listener's backlog is full, as tokio's connect reports too), so a raw
/// `connect(2)` spares the runtime's register-wait-check-deregister round.
fn connect_unix(path: &std::path::Path) -> io::Result<OwnedFd> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::connect(&socket, &SocketAddrUnix::new(path)?)?;
    Ok(socket)
}

/// Makes room for a read in `buf`; returns the room.
fn reserve(buf: &mut Vec<u8>) -> usize {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    buf.capacity() - buf.len()
}

/// One `recv(2)` into the spare capacity of `buf`.
fn recv(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, flags: RecvFlags) -> io::Result<usize> {
    loop {
        match rustix::net::recv(fd, spare_capacity(buf), flags) {
            Ok((got, _)) => return Ok(got),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
