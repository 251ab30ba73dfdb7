//! A TLS session over the stream's own socket: rustls's state kept next to the
//! descriptor that `stream.rs` reads and writes with raw `recv`/`send`, so TLS adds
//! encryption and no hop (no relay task, no second socket).
//!
//! Reads feed ciphertext from the socket into rustls and drain every byte of plaintext
//! it yields before returning: nothing decrypted is ever left inside rustls, so a reader
//! may wait on the socket's readiness (or sleep in `recv`) exactly as a plain one does.
//! Writes push plaintext into rustls and its records out to the socket; plaintext is
//! reported written only once its records are all on the socket, so a caller that
//! waits for room while bytes are pending waits for the ciphertext too.
//!
//! This file has a twin, word for word, in `manager-client/src/tls_session.rs` (the two
//! crates share no I/O code: the client does not depend on the server).

use rustix::buffer::spare_capacity;
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendFlags};
use std::io::{self, BufRead, IoSlice, Write};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Room for one `recv` of ciphertext: rustls takes 4 KiB per `read_tls`, and a large
/// value read 4 KiB per system call cost 256 of them per MiB.
const CIPHER_READ: usize = 64 * 1024;

/// How much plaintext rustls may hold encrypted and unsent: a 1 MiB value goes out in
/// four rounds of encrypt-then-send rather than sixteen (rustls's default is 64 KiB).
const SEND_BUFFER: usize = 256 * 1024;

/// A TLS session on one socket.
#[derive(Debug)]
pub(crate) struct Session {
    /// rustls's state, taken briefly by whoever reads or writes (never across a `recv`
    /// that sleeps).
    state: Mutex<State>,
    /// Ciphertext read from the socket and not yet given to rustls: only the socket's
    /// reader touches it, so its lock is never contended.
    incoming: Mutex<Incoming>,
    /// Set when the handshake left plaintext in rustls (see [`Session::pending`]).
    held: AtomicBool,
}

#[derive(Debug)]
struct State {
    conn: rustls::Connection,
    /// Plaintext rustls took whose records are not all on the socket yet: reported
    /// written once they are.
    owed: usize,
}

#[derive(Debug, Default)]
struct Incoming {
    buf: Vec<u8>,
    /// Where the bytes not yet given to rustls start.
    start: usize,
    /// The peer's first byte, once it sent one: a TLS record starts with 0x14–0x17.
    first: Option<u8>,
}

/// What the peer's bytes say when they are not TLS.
#[derive(Debug)]
pub(crate) struct NotTls;

impl std::fmt::Display for NotTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the peer does not speak TLS")
    }
}

impl std::error::Error for NotTls {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; recover rather than spread a poison.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A rustls error as an I/O error, kept whole (`tls_error` finds it again).
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The rustls error inside an I/O error, if that is what it is.
#[allow(dead_code, reason = "the client explains rustls's errors; the server logs them as they are")]
pub(crate) fn tls_error_in(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Whether an I/O error says the peer's bytes were not TLS.
pub(crate) fn is_not_tls(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<NotTls>())
}

impl Session {
    /// A session whose handshake is still to run.
    pub(crate) fn new(mut conn: rustls::Connection) -> Session {
        conn.set_buffer_limit(Some(SEND_BUFFER));
        Session {
            state: Mutex::new(State { conn, owed: 0 }),
            incoming: Mutex::new(Incoming::default()),
            held: AtomicBool::new(false),
        }
    }

    /// Whether the handshake is still running.
    pub(crate) fn is_handshaking(&self) -> bool {
        lock(&self.state).conn.is_handshaking()
    }

    /// Sends what rustls has queued; `WouldBlock` while the socket takes no more.
    pub(crate) fn flush(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        lock(&self.state).flush(fd)
    }

    /// One step of the handshake's reading: reads what the socket has, non-blocking,
    /// and gives it to rustls. `WouldBlock` when the socket had nothing; an error
    /// carrying [`NotTls`] when the peer's first bytes are not a TLS record.
    pub(crate) fn handshake_read(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut incoming = lock(&self.incoming);
        let room = incoming.prepare();
        let got = match recv(fd, &mut incoming.buf, room, RecvFlags::DONTWAIT) {
            // A peer that resets the connection on our first TLS record without a word
            // (a plain server closing with our hello unread) does not speak TLS.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && incoming.first.is_none() => {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, NotTls));
            }
            other => other?,
        };
        if got == 0 {
            return Err(match incoming.first {
                None => io::Error::new(io::ErrorKind::UnexpectedEof, NotTls),
                Some(_) => io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed during the TLS handshake"),
            });
        }
        if incoming.first.is_none() {
            let first = incoming.buf[incoming.start];
            incoming.first = Some(first);
            if !(0x14..=0x17).contains(&first) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, NotTls));
            }
        }
        // Plaintext that came with the handshake's last flight (a TLS 1.3 client
        // writes right after its Finished) stays in rustls for the first read:
        // [`Session::pending`] tells the stream to read before waiting.
        let mut state = lock(&self.state);
        state.absorb(fd, &mut incoming, None)?;
        if state.conn.reader().fill_buf().is_ok_and(|chunk| !chunk.is_empty()) {
            self.held.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Whether the handshake left plaintext inside the session, which no readiness
    /// event will announce: read before waiting. Every read drains the session, so
    /// this is an atomic load on the common path.
    pub(crate) fn pending(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// Reads the plaintext available into `buf` (growing it), feeding rustls from the
    /// socket with `recv(flags)` while none is: the count of bytes appended (0 when the
    /// peer closed), and whether the socket was drained (its last `recv` came back
    /// short). `WouldBlock` when the socket had nothing and no plaintext came.
    pub(crate) fn read(&self, fd: BorrowedFd<'_>, buf: &mut Vec<u8>, flags: RecvFlags) -> io::Result<(usize, bool)> {
        let mut incoming = lock(&self.incoming);
        self.held.store(false, Ordering::Release);
        let before = buf.len();
        let mut drained = false;
        loop {
            let closed = lock(&self.state).absorb(fd, &mut incoming, Some(buf))?;
            let got = buf.len() - before;
            if got > 0 || closed {
                return Ok((got, drained || closed));
            }
            let room = incoming.prepare();
            // The state's lock is not held here: a blocking read may sleep.
            match recv(fd, &mut incoming.buf, room, flags)? {
                0 => return Ok((0, true)),
                n => drained = n < room,
            }
        }
    }

    /// Writes `data` (a prefix of what the caller has pending, the same prefix on every
    /// call until it is reported written): the count of its bytes now on the socket
    /// as ciphertext; `WouldBlock` while the socket takes no more.
    pub(crate) fn write(&self, fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
        let mut state = lock(&self.state);
        loop {
            state.flush(fd)?;
            if state.owed > 0 {
                return Ok(std::mem::take(&mut state.owed));
            }
            if data.is_empty() {
                return Ok(0);
            }
            // Takes up to the send buffer's room; never nothing while it is empty.
            let took = state.conn.writer().write(data)?;
            if took == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            state.owed = took;
        }
    }
}

impl State {
    fn flush(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut Socket(fd))? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// Gives rustls the ciphertext `incoming` holds and appends the plaintext it
    /// yields to `buf` (with none, leaves it in rustls); `true` once the peer closed
    /// the session.
    fn absorb(
        &mut self,
        fd: BorrowedFd<'_>,
        incoming: &mut Incoming,
        mut buf: Option<&mut Vec<u8>>,
    ) -> io::Result<bool> {
        loop {
            if let Some(buf) = buf.as_deref_mut()
                && self.drain(buf)?
            {
                return Ok(true);
            }
            let mut pending = &incoming.buf[incoming.start..];
            if pending.is_empty() {
                return Ok(false);
            }
            let took = self.conn.read_tls(&mut pending)?;
            if took == 0 {
                // rustls reads nothing after the peer's close_notify.
                incoming.start = incoming.buf.len();
                return Ok(true);
            }
            incoming.start += took;
            if let Err(e) = self.conn.process_new_packets() {
                // Tell the peer (rustls queued an alert), as far as the socket takes it.
                let _ = self.flush(fd);
                return Err(tls_error(e));
            }
            if self.conn.wants_write() && self.owed == 0 && !self.conn.is_handshaking() {
                // A key update's answer, say: out now if the socket takes it, else with
                // the next write.
                match self.flush(fd) {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                    _ => {}
                }
            }
        }
    }

    /// Moves the plaintext rustls holds into `buf`; `true` if the peer closed cleanly.
    fn drain(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            let mut reader = self.conn.reader();
            let chunk = match reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(true);
            }
            let n = chunk.len();
            buf.extend_from_slice(chunk);
            reader.consume(n);
        }
    }
}

impl Incoming {
    /// Makes room for one read; returns the room.
    fn prepare(&mut self) -> usize {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < CIPHER_READ / 4 {
            self.buf.drain(..self.start);
            self.start = 0;
            self.buf.reserve(CIPHER_READ);
        }
        self.buf.capacity() - self.buf.len()
    }
}

/// One `recv(2)` into the spare capacity of `buf` (at most `room` bytes).
fn recv(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, room: usize, flags: RecvFlags) -> io::Result<usize> {
    debug_assert!(buf.capacity() - buf.len() >= room);
    loop {
        match rustix::net::recv(fd, spare_capacity(buf), flags) {
            Ok((got, _)) => return Ok(got),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The socket as rustls's output: non-blocking `send`s, vectored when rustls has
/// several records queued.
struct Socket<'a>(BorrowedFd<'a>);

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            let mut control = SendAncillaryBuffer::default();
            let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
            match rustix::net::sendmsg(self.0, bufs, &mut control, flags) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
