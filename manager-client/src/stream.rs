//! The client's socket, TCP or Unix, shared by callers (who write directly when the
//! socket has room), the writer task (which finishes what they could not) and the
//! reader task.

use manager_proto::{Address, Error};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Opens a socket to `address` within `timeout`.
    pub(crate) async fn connect(address: &Address, timeout: Duration) -> Result<Stream, Error> {
        let connect_err = |source: io::Error| Error::Connect { address: address.to_string(), source: Arc::new(source) };
        let connecting = async {
            match address {
                Address::Tcp(hostport) => {
                    let s = TcpStream::connect(hostport.as_str()).await?;
                    s.set_nodelay(true)?;
                    Ok(Stream::Tcp(s))
                }
                Address::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
            }
        };
        match tokio::time::timeout(timeout, connecting).await {
            Ok(r) => r.map_err(connect_err),
            Err(_) => {
                Err(connect_err(io::Error::new(io::ErrorKind::TimedOut, format!("no connection within {timeout:?}"))))
            }
        }
    }

    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable().await,
            Stream::Unix(s) => s.readable().await,
        }
    }

    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.writable().await,
            Stream::Unix(s) => s.writable().await,
        }
    }

    /// Reads what is available into the spare capacity of `buf` (growing it if full).
    ///
    /// A read that comes back short of the room it was given drained the socket: like
    /// tokio's own `poll_read`, we then clear the cached readiness (only if no new event
    /// arrived since the read began), so the next wait parks at once instead of paying a
    /// read syscall that can only say `WouldBlock` — one syscall less per message.
    pub(crate) fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let room = buf.capacity() - buf.len();
        let mut got = 0;
        let drained = || io::Error::from(io::ErrorKind::WouldBlock);
        let read = match self {
            Stream::Tcp(s) => s.try_io(Interest::READABLE, || {
                got = s.try_read_buf(buf)?;
                if 0 < got && got < room { Err(drained()) } else { Ok(got) }
            }),
            Stream::Unix(s) => s.try_io(Interest::READABLE, || {
                got = s.try_read_buf(buf)?;
                if 0 < got && got < room { Err(drained()) } else { Ok(got) }
            }),
        };
        match read {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
            other => other,
        }
    }

    /// A plain std handle on the same socket (a duplicated descriptor, sharing the
    /// non-blocking flag), whose reads are real syscalls: tokio's `try_read` answers
    /// from cached readiness and would never see data arrive while we spin.
    pub(crate) fn spinner(&self) -> io::Result<Spinner> {
        use std::os::fd::AsFd;
        Ok(match self {
            Stream::Tcp(s) => Spinner::Tcp(std::net::TcpStream::from(s.as_fd().try_clone_to_owned()?)),
            Stream::Unix(s) => Spinner::Unix(std::os::unix::net::UnixStream::from(s.as_fd().try_clone_to_owned()?)),
        })
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
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

/// A std handle for busy-polling reads (low-latency mode).
#[derive(Debug)]
pub(crate) enum Spinner {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Spinner {
    /// Reads for up to `spin` without sleeping, appending to `buf`: `Ok(true)` if bytes
    /// came, `Ok(false)` if none did, an error when the peer closed or failed.
    pub(crate) fn spin_read(&mut self, buf: &mut Vec<u8>, spin: std::time::Duration) -> io::Result<bool> {
        use std::io::Read;
        let deadline = std::time::Instant::now() + spin;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let read = match self {
                Spinner::Tcp(s) => s.read(&mut chunk),
                Spinner::Unix(s) => s.read(&mut chunk),
            };
            match read {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::hint::spin_loop();
        }
    }
}
