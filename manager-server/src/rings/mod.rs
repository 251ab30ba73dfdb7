//! A connection served over shared-memory rings (`--shared-memory`): the segment and
//! bells the server makes for it, and the reads, writes and waits `stream.rs` routes
//! here instead of to the socket once the rings are on.
//!
//! The bytes are the socket's would-be bytes, so the connection's loop is unchanged.
//! Each side sleeps on its own bells (eventfds: one rung when data comes, one when room
//! does), and rings the peer's only when the ring's flags say the peer sleeps (see
//! `manager_proto::ring`): a busy connection makes no system call per message. Before
//! sleeping for data the connection's loop polls the ring for its adaptive budget
//! (`AdaptiveSpin`, capped at [`POLL_CAP`]): it grows while requests come within its
//! cap, halves when a poll misses, and falls to nothing on an idle connection. The
//! socket stays open and registered: its end (the client closed or died) is the
//! connection's end, and bytes on it are a broken peer.
//!
//! `memory.rs` maps the segment: the only `unsafe` here.

mod memory;

use manager_proto::ring::spin::{self, Pace};
use manager_proto::ring::{Layout, RingError};
use rustix::event::{EventfdFlags, eventfd};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::io;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use memory::MappedEnds;

/// The longest the server polls a ring before sleeping (the cap of the connection
/// loop's adaptive budget over rings): about what a sleep and a wake-up across cores
/// cost on a VM, so that polling never costs more than twice what sleeping would.
pub(crate) const POLL_CAP: Duration = Duration::from_micros(50);

/// Most bytes one read takes from the ring (as a socket read would).
const READ_MAX: usize = 256 * 1024;

/// One connection's rings and bells, on the server.
#[derive(Debug)]
pub(crate) struct RingLink {
    ends: MappedEnds,
    /// Rung by the client when it writes while the server sleeps for data.
    data_bell: AsyncFd<OwnedFd>,
    /// Rung by the client when it reads while the server sleeps for room.
    space_bell: AsyncFd<OwnedFd>,
    /// The client's bells, rung when it sleeps.
    client_data: OwnedFd,
    client_space: OwnedFd,
}

/// What the client receives with the offer, in `manager_proto::session::RING_FDS` order.
pub(crate) type OfferedFds = [OwnedFd; 5];

impl RingLink {
    /// A new segment of rings of `capacity` bytes and four bells: the link, and the
    /// descriptors to send the client (the segment and all four bells).
    pub(crate) fn create(capacity: usize) -> io::Result<(RingLink, OfferedFds)> {
        use rustix::fs::{MemfdFlags, Mode, SealFlags, fchmod, fcntl_add_seals, ftruncate, memfd_create};
        let layout = Layout::new(capacity).map_err(io::Error::other)?;
        let len = layout.segment_len();
        // Never named in /dev/shm: the segment lives as long as a descriptor or a mapping
        // of it does, so two dead processes leave nothing behind.
        let segment = memfd_create("manager-rings", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        fchmod(&segment, Mode::RUSR | Mode::WUSR)?;
        ftruncate(&segment, len as u64)?;
        // Sealed at its size before the client sees it: no peer can shrink it under our
        // mapping (whose accesses would then fault).
        fcntl_add_seals(&segment, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let ends = MappedEnds::map_new(segment.as_fd(), layout)?;
        let bell = || eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK);
        let (client_data, client_space, data_bell, space_bell) = (bell()?, bell()?, bell()?, bell()?);
        let fds = [
            segment,
            client_data.try_clone()?,
            client_space.try_clone()?,
            data_bell.try_clone()?,
            space_bell.try_clone()?,
        ];
        let link = RingLink {
            ends,
            data_bell: memory::register(data_bell)?,
            space_bell: memory::register(space_bell)?,
            client_data,
            client_space,
        };
        Ok((link, fds))
    }

    /// Ready when the ring has bytes, or the socket has news (its end, or bytes a
    /// broken client should not have sent).
    pub(crate) fn poll_readable(&self, socket: &AsyncFd<OwnedFd>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        {
            let mut rx = self.ends.rx();
            match rx.available() {
                Ok(0) => {}
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(corrupt(e))),
            }
            match rx.prepare_wait() {
                Ok(true) => {}
                Ok(false) => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(corrupt(e))),
            }
        }
        if let Poll::Ready(r) = self.data_bell.poll_read_ready(cx) {
            return Poll::Ready(r.map(drop));
        }
        socket.poll_read_ready(cx).map_ok(drop)
    }

    /// Reads what the ring has; when it has nothing, clears the bell's readiness (so
    /// the next wait parks) and looks at the socket: 0 when the client closed,
    /// `WouldBlock` when nothing happened.
    pub(crate) fn try_read_buf(&self, socket: &AsyncFd<OwnedFd>, buf: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.read_ring(buf)?;
        if n > 0 {
            return Ok(n);
        }
        drain(&self.data_bell);
        let n = self.read_ring(buf)?;
        if n > 0 {
            return Ok(n);
        }
        socket_end(socket)
    }

    /// Polls the ring for up to `spin` at `pace` (the connection's loop decides how long:
    /// its adaptive budget, or low-latency mode's time); `WouldBlock` when nothing came.
    pub(crate) fn spin_read(&self, buf: &mut Vec<u8>, spin: Duration, pace: Pace) -> io::Result<usize> {
        let look = || self.read_ring(buf).map(|n| (n > 0).then_some(n));
        let found = spin::poll(spin, pace, look, Instant::now, std::thread::yield_now)?;
        found.ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    /// One read from the ring: wakes a client that sleeps for room.
    fn read_ring(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let mut rx = self.ends.rx();
        let n = rx.read_into(buf, READ_MAX).map_err(corrupt)?;
        if n > 0 && rx.take_writer_waiting() {
            ring(&self.client_space);
        }
        Ok(n)
    }

    /// Writes what fits of `buf`; `WouldBlock` when the ring is full.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_slices(&[io::IoSlice::new(buf)])
    }

    /// Writes what fits of `slices`, in order; `WouldBlock` when nothing fits.
    pub(crate) fn write_slices(&self, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut tx = self.ends.tx();
        match tx.write_slices(slices).map_err(corrupt)? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            total => {
                if tx.take_reader_waiting() {
                    ring(&self.client_data);
                }
                Ok(total)
            }
        }
    }

    /// Waits until the ring has room; an error if the client's socket ended meanwhile.
    pub(crate) async fn writable(&self, socket: &AsyncFd<OwnedFd>) -> io::Result<()> {
        loop {
            if !self.ends.tx().prepare_wait().map_err(corrupt)? {
                return Ok(());
            }
            tokio::select! {
                ready = self.space_bell.readable() => {
                    ready?.clear_ready();
                    let _ = rustix::io::read(self.space_bell.get_ref(), &mut [0u8; 8]);
                }
                ready = socket.readable() => {
                    ready?.retain_ready();
                    match socket_end(socket) {
                        Ok(_) => return Err(io::ErrorKind::BrokenPipe.into()),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

/// A corrupt ring, as the read or write error that ends the connection.
fn corrupt(e: RingError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Rings a peer's bell. A full counter (it was rung 2⁶⁴−2 times unread) is rung already.
fn ring(bell: &OwnedFd) {
    let _ = rustix::io::write(bell, &1u64.to_ne_bytes());
}

/// Empties a bell and clears its readiness, unless it was rung since it was last seen
/// ready (tokio keeps that readiness).
fn drain(bell: &AsyncFd<OwnedFd>) {
    let _ = bell.try_io(Interest::READABLE, |fd| {
        let _ = rustix::io::read(fd, &mut [0u8; 8]);
        Err::<(), _>(io::ErrorKind::WouldBlock.into())
    });
}

/// What the socket of a ring connection says: 0 when the peer closed, `WouldBlock`
/// (readiness cleared) when nothing, an error for bytes (the socket carries none once
/// the rings are on).
fn socket_end(socket: &AsyncFd<OwnedFd>) -> io::Result<usize> {
    socket.try_io(Interest::READABLE, |fd| peek_end(fd.as_fd()))
}

fn peek_end(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut byte = [0u8; 1];
    match rustix::net::recv(fd, &mut byte, rustix::net::RecvFlags::DONTWAIT | rustix::net::RecvFlags::PEEK) {
        Ok((0, _)) => Ok(0),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the client sent bytes on the socket of a shared-memory connection",
        )),
        Err(e) => Err(e.into()),
    }
}
