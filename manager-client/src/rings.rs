//! A connection over shared-memory rings (`ClientOptions::shared_memory`), the twin of
//! the server's `rings/`: the reads, writes and waits `stream.rs` routes here once the
//! server's offer has brought the segment and the bells.
//!
//! Each side sleeps on its own bells (eventfds: one rung when data comes, one when room
//! does) and rings the peer's only when the ring's flags say the peer sleeps (see
//! `manager_proto::ring`). Before sleeping for a reply, a reader polls the ring for an
//! adaptive budget ([`AdaptiveSpin`], at most [`POLL_CAP`]): it grows while replies
//! come within the cap and falls to nothing when they do not. A blocking client's
//! calling thread sleeps in `poll(2)` on its data bell and the socket together; the
//! socket carries nothing once the rings are on, and its end (the server closed or
//! died) is the connection's end. The mapping itself is `shm/region.rs`'s (its only
//! `unsafe`).

use manager_proto::ring::spin::{self, Pace};
use manager_proto::ring::{AdaptiveSpin, RingError};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::shm::region::RingMapping;

/// The longest a reader polls the ring before sleeping (the adaptive budget's cap):
/// about what a sleep and a wake-up across cores cost on a VM, so that polling never
/// costs more than twice what sleeping would.
pub(crate) const POLL_CAP: Duration = Duration::from_micros(50);

/// Most bytes one read takes from the ring (as a socket read would).
const READ_MAX: usize = 256 * 1024;

/// One connection's rings and bells, on the client.
#[derive(Debug)]
pub(crate) struct RingLink {
    mapping: RingMapping,
    /// Rung by the server when it writes while this client sleeps for data.
    data_bell: AsyncFd<OwnedFd>,
    /// Rung by the server when it reads while this client sleeps for room.
    space_bell: AsyncFd<OwnedFd>,
    /// The server's bells, rung when it sleeps.
    server_data: OwnedFd,
    server_space: OwnedFd,
    /// How long to poll for data before sleeping, learned from the waits.
    spin: Mutex<AdaptiveSpin>,
    /// The longest one blocking read sleeps (a keepalive period), in nanoseconds.
    read_timeout: AtomicU64,
    /// The reader task, while it sleeps on the data bell. A blocking caller reading for
    /// itself shares the ring's one "reader sleeps" mark with it: when the caller's own
    /// wait takes or withdraws the mark (or drains the bell), the task would sleep on
    /// with no mark set and never be rung. So a caller that waited wakes the task, which
    /// looks again and sets the mark anew.
    parked: Mutex<Option<Waker>>,
}

impl RingLink {
    /// The link over `mapping`, with the bells the offer brought (the client's two
    /// registered with the runtime).
    pub(crate) fn new(
        mapping: RingMapping,
        data_bell: AsyncFd<OwnedFd>,
        space_bell: AsyncFd<OwnedFd>,
        server_data: OwnedFd,
        server_space: OwnedFd,
    ) -> RingLink {
        RingLink {
            mapping,
            data_bell,
            space_bell,
            server_data,
            server_space,
            spin: Mutex::new(AdaptiveSpin::new(POLL_CAP)),
            read_timeout: AtomicU64::new(u64::MAX),
            parked: Mutex::new(None),
        }
    }

    /// Ready when the ring has bytes, or the socket has news (its end).
    pub(crate) fn poll_readable(&self, socket: &AsyncFd<OwnedFd>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.must_sleep() {
            Ok(true) => {}
            Ok(false) => return Poll::Ready(Ok(())),
            Err(e) => return Poll::Ready(Err(e)),
        }
        if let Poll::Ready(r) = self.data_bell.poll_read_ready(cx) {
            return Poll::Ready(r.map(drop));
        }
        let polled = socket.poll_read_ready(cx).map_ok(drop);
        if polled.is_pending() {
            *lock(&self.parked) = Some(cx.waker().clone());
        }
        polled
    }

    /// Whether the ring is empty with this reader marked as sleeping (so the server
    /// rings the bell when it writes).
    fn must_sleep(&self) -> io::Result<bool> {
        let mut rx = self.mapping.rx();
        if rx.available().map_err(corrupt)? > 0 {
            return Ok(false);
        }
        rx.prepare_wait().map_err(corrupt)
    }

    /// Reads what the ring has; when it has nothing, clears the bell's readiness and
    /// looks at the socket: 0 when the server closed, `WouldBlock` when nothing came.
    pub(crate) fn try_read_buf(&self, socket: &AsyncFd<OwnedFd>, buf: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.read_ring(buf)?;
        if n > 0 {
            return Ok(n);
        }
        let _ = self.data_bell.try_io(Interest::READABLE, |fd| {
            drain(fd.as_fd());
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
        let n = self.read_ring(buf)?;
        if n > 0 {
            return Ok(n);
        }
        socket.try_io(Interest::READABLE, |fd| peek_end(fd.as_fd()))
    }

    /// Polls the ring for up to `spin`, pausing between looks (low-latency mode), or
    /// (`None`) for the adaptive budget, yielding every few looks; `WouldBlock` when
    /// nothing came. Marks the start of a wait, which the next read that finds data
    /// ends and teaches the budget.
    pub(crate) fn spin_read(&self, buf: &mut Vec<u8>, spin: Option<Duration>) -> io::Result<usize> {
        let adaptive = self.lock_spin().begin_wait(Instant::now());
        let (budget, pace) = match spin {
            Some(spin) => (spin, Pace::Pure),
            None => (adaptive, Pace::Yielding),
        };
        let look = || self.read_ring(buf).map(|n| (n > 0).then_some(n));
        match spin::poll(budget, pace, look, Instant::now, std::thread::yield_now)? {
            Some(n) => Ok(n),
            None => {
                if spin.is_none() && !budget.is_zero() {
                    self.lock_spin().missed();
                }
                Err(io::ErrorKind::WouldBlock.into())
            }
        }
    }

    /// Bounds each sleep of [`RingLink::recv_blocking`].
    pub(crate) fn set_read_timeout(&self, timeout: Duration) {
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        self.read_timeout.store(nanos, Ordering::Relaxed);
    }

    /// A blocking client's calling thread: polls for the adaptive budget, then sleeps
    /// in `poll(2)` on the data bell and the socket, for at most the read timeout
    /// (then `WouldBlock`); 0 when the server closed.
    pub(crate) fn recv_blocking(&self, socket: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self.spin_read(buf, None) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => return other,
        }
        let read = self.sleep_for_data(socket, buf);
        // This wait used the mark and the bell the reader task may be sleeping on: let
        // it look again (see `parked`).
        if let Some(task) = lock(&self.parked).take() {
            task.wake();
        }
        read
    }

    /// [`RingLink::recv_blocking`] past its poll: sleeps in `poll(2)` until data, the
    /// socket's end or the read timeout.
    fn sleep_for_data(&self, socket: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<usize> {
        let deadline = Instant::now().checked_add(Duration::from_nanos(self.read_timeout.load(Ordering::Relaxed)));
        loop {
            if !self.must_sleep()? {
                match self.read_ring(buf)? {
                    0 => continue,
                    n => return Ok(n),
                }
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Timespec::try_from(left).ok(),
                    _ => return Err(io::ErrorKind::WouldBlock.into()),
                },
                None => None,
            };
            let bell = self.data_bell.get_ref();
            let mut fds = [PollFd::new(bell, PollFlags::IN), PollFd::new(&socket, PollFlags::IN)];
            match poll(&mut fds, left.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let (rung, socket_news) = (!fds[0].revents().is_empty(), !fds[1].revents().is_empty());
            if rung {
                drain(bell.as_fd());
            }
            let n = self.read_ring(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if socket_news {
                match peek_end(socket) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return other,
                }
            }
        }
    }

    /// One read from the ring: wakes a server that sleeps for room, and ends a wait.
    fn read_ring(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let mut rx = self.mapping.rx();
        let n = rx.read_into(buf, READ_MAX).map_err(corrupt)?;
        if n > 0 {
            if rx.take_writer_waiting() {
                ring(&self.server_space);
            }
            drop(rx);
            self.lock_spin().end_wait(Instant::now());
        }
        Ok(n)
    }

    /// Writes what fits of `slices`, in order; `WouldBlock` when nothing fits.
    pub(crate) fn write_slices(&self, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut tx = self.mapping.tx();
        match tx.write_slices(slices).map_err(corrupt)? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            total => {
                if tx.take_reader_waiting() {
                    ring(&self.server_data);
                }
                Ok(total)
            }
        }
    }

    /// Waits until the ring has room; an error if the socket ended meanwhile.
    pub(crate) async fn writable(&self, socket: &AsyncFd<OwnedFd>) -> io::Result<()> {
        loop {
            if !self.mapping.tx().prepare_wait().map_err(corrupt)? {
                return Ok(());
            }
            tokio::select! {
                ready = self.space_bell.readable() => {
                    ready?.clear_ready();
                    drain(self.space_bell.get_ref().as_fd());
                }
                ready = socket.readable() => {
                    ready?.retain_ready();
                    match socket.try_io(Interest::READABLE, |fd| peek_end(fd.as_fd())) {
                        Ok(_) => return Err(io::ErrorKind::BrokenPipe.into()),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    fn lock_spin(&self) -> std::sync::MutexGuard<'_, AdaptiveSpin> {
        lock(&self.spin)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A corrupt ring, as the read or write error that ends the connection.
fn corrupt(e: RingError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Rings a peer's bell. A full counter (rung 2⁶⁴−2 times unread) is rung already.
fn ring(bell: &OwnedFd) {
    let _ = rustix::io::write(bell, &1u64.to_ne_bytes());
}

/// Empties a bell (an eventfd's counter).
fn drain(bell: BorrowedFd<'_>) {
    let _ = rustix::io::read(bell, &mut [0u8; 8]);
}

/// What the socket of a ring connection says: 0 when the server closed, `WouldBlock`
/// when nothing, an error for bytes (it carries none once the rings are on).
fn peek_end(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut byte = [0u8; 1];
    match rustix::net::recv(fd, &mut byte, rustix::net::RecvFlags::DONTWAIT | rustix::net::RecvFlags::PEEK) {
        Ok((0, _)) => Ok(0),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the server sent bytes on the socket of a shared-memory connection",
        )),
        Err(e) => Err(e.into()),
    }
}
