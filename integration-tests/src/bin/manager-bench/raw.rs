//! The floor: the same frame sizes over the same socket kinds, with no manager in
//! between — a raw echo server and a client that times round trips.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// Either kind of stream, blocking.
pub trait Stream: Read + Write + Send + 'static {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()>;
}

impl Stream for TcpStream {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        TcpStream::set_nonblocking(self, on)
    }
}

impl Stream for UnixStream {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        UnixStream::set_nonblocking(self, on)
    }
}

/// Connects to `address` (`tcp://h:p` or `unix:/p`).
pub fn connect(address: &str) -> std::io::Result<Box<dyn Stream>> {
    if let Some(hp) = address.strip_prefix("tcp://") {
        let s = TcpStream::connect(hp)?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    } else {
        Ok(Box::new(UnixStream::connect(address.trim_start_matches("unix:"))?))
    }
}

/// The echo server: every connection on its own thread; each frame (4-byte length +
/// payload) is answered by a frame of `reply_len` bytes — or echoed whole when the
/// frame asks for it (its first byte is 1). With `spin`, reads busy-poll. With `once`,
/// the accepting thread answers one request per connection itself and closes it: the
/// floor for connect-plus-one-round-trip, with no thread to start. With `tokio`, the
/// same echo runs as tasks on a default (multi-thread) tokio runtime instead (see
/// [`echo_task`]); with `epoll`, on a `current_thread` runtime: one thread on epoll.
pub fn serve(address: &str, mode: &str) -> std::io::Result<()> {
    if mode == "tokio" || mode == "epoll" {
        return serve_tokio(address, mode == "epoll");
    }
    let (spin, once) = (mode == "spin", mode == "once");
    let handle = move |mut s: Box<dyn Stream>| {
        if once {
            let _ = echo_once(&mut *s);
            return;
        }
        std::thread::spawn(move || {
            if spin {
                let _ = s.set_nonblocking(true);
            }
            let _ = echo(&mut *s, spin);
        });
    };
    if let Some(hp) = address.strip_prefix("tcp://") {
        let l = TcpListener::bind(hp)?;
        println!("LISTENING tcp://{}", l.local_addr()?);
        for s in l.incoming() {
            let s = s?;
            s.set_nodelay(true)?;
            handle(Box::new(s));
        }
    } else {
        let path = address.trim_start_matches("unix:");
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path)?;
        println!("LISTENING unix:{path}");
        for s in l.incoming() {
            handle(Box::new(s?));
        }
    }
    Ok(())
}

fn read_exact_spin(s: &mut dyn Stream, mut buf: &mut [u8], spin: bool) -> std::io::Result<()> {
    while !buf.is_empty() {
        match s.read(buf) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if spin && e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_all_spin(s: &mut dyn Stream, mut buf: &[u8], spin: bool) -> std::io::Result<()> {
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if spin && e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn echo_once(s: &mut dyn Stream) -> std::io::Result<()> {
    answer(s, &mut Vec::new(), false)
}

/// Request frames carry their reply size in bytes 1..5 (after the echo flag). Reads
/// whatever has arrived, answers every complete frame in it and writes the replies in
/// one write — the floor a well-written server can reach, also with many in flight.
fn echo(s: &mut dyn Stream, spin: bool) -> std::io::Result<()> {
    let mut frames = Frames::new();
    loop {
        let n = loop {
            match s.read(frames.spare()) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => break n,
                Err(e) if spin && e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => return Err(e),
            }
        };
        if let Some(replies) = frames.arrived(n) {
            write_all_spin(s, replies, spin)?;
        }
    }
}

/// The same echo as a task on a bare tokio runtime with its defaults (as the benchmark's
/// manager server has): the part of our figures that is the runtime's own, with no
/// manager in it.
async fn echo_task(mut s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut frames = Frames::new();
    loop {
        let n = s.read(frames.spare()).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(replies) = frames.arrived(n) {
            s.write_all(replies).await?;
        }
    }
}

/// Serves [`echo_task`] on a default tokio runtime (`raw-echo ADDRESS tokio`), or on a
/// `current_thread` one (`raw-echo ADDRESS epoll`: one thread, its epoll and its tasks).
fn serve_tokio(address: &str, one_thread: bool) -> std::io::Result<()> {
    let rt = if one_thread {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Runtime::new()?
    };
    rt.block_on(async {
        if let Some(hp) = address.strip_prefix("tcp://") {
            let l = tokio::net::TcpListener::bind(hp).await?;
            println!("LISTENING tcp://{}", l.local_addr()?);
            loop {
                let (s, _) = l.accept().await?;
                s.set_nodelay(true)?;
                tokio::spawn(echo_task(s));
            }
        } else {
            let path = address.trim_start_matches("unix:");
            let _ = std::fs::remove_file(path);
            let l = tokio::net::UnixListener::bind(path)?;
            println!("LISTENING unix:{path}");
            loop {
                let (s, _) = l.accept().await?;
                tokio::spawn(echo_task(s));
            }
        }
    })
}

/// An echo server's input and replies: reads go straight into the spare room, and every
/// complete frame read is answered in one buffer of replies.
struct Frames {
    /// `input[start..end]` is read and not yet answered.
    input: Vec<u8>,
    start: usize,
    end: usize,
    replies: Vec<u8>,
}

impl Frames {
    fn new() -> Frames {
        Frames { input: vec![0u8; 64 * 1024], start: 0, end: 0, replies: Vec::with_capacity(64 * 1024) }
    }

    /// Where the next read goes (never empty).
    fn spare(&mut self) -> &mut [u8] {
        if self.end == self.input.len() {
            if self.start > 0 {
                self.input.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            } else {
                self.input.resize(self.input.len() * 2, 0);
            }
        }
        &mut self.input[self.end..]
    }

    /// `n` more bytes were read into [`Frames::spare`]: the replies to the frames they
    /// completed, if any.
    fn arrived(&mut self, n: usize) -> Option<&[u8]> {
        let (input, replies) = (&mut self.input, &mut self.replies);
        self.end += n;
        replies.clear();
        while self.end - self.start >= 4 {
            let s = self.start;
            let len = u32::from_be_bytes([input[s], input[s + 1], input[s + 2], input[s + 3]]) as usize;
            if self.end - s - 4 < len {
                if s + 4 + len > input.len() && s == 0 {
                    // Room for the whole frame, so the rest arrives in place.
                    input.resize(4 + len, 0);
                }
                break;
            }
            reply_to(&input[s + 4..s + 4 + len], replies);
            self.start += 4 + len;
        }
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        (!replies.is_empty()).then_some(&replies[..])
    }
}

/// Appends the reply frame to `payload` to `out`.
fn reply_to(payload: &[u8], out: &mut Vec<u8>) {
    let reply_len = if payload.len() >= 5 {
        u32::from_le_bytes([payload[1], payload[2], payload[3], payload[4]]) as usize
    } else {
        payload.len()
    };
    let start = out.len();
    out.extend_from_slice(&(reply_len as u32).to_be_bytes());
    if payload.first() == Some(&1) {
        out.extend_from_slice(&payload[..reply_len.min(payload.len())]);
    }
    out.resize(start + 4 + reply_len, 0);
}

fn answer(s: &mut dyn Stream, payload: &mut Vec<u8>, spin: bool) -> std::io::Result<()> {
    let mut header = [0u8; 4];
    read_exact_spin(s, &mut header, spin)?;
    payload.resize(u32::from_be_bytes(header) as usize, 0);
    read_exact_spin(s, payload, spin)?;
    let mut reply = Vec::new();
    reply_to(payload, &mut reply);
    write_all_spin(s, &reply, spin)
}

fn request(size: usize, reply: usize, echo_back: bool) -> Vec<u8> {
    let size = size.max(5);
    let mut frame = Vec::with_capacity(4 + size);
    frame.extend_from_slice(&(size as u32).to_be_bytes());
    frame.push(u8::from(echo_back));
    frame.extend_from_slice(&(reply as u32).to_le_bytes());
    frame.resize(4 + size, 7);
    frame
}

/// Round trips of `size`-byte requests answered by `reply`-byte replies, one at a
/// time: total time for `n`, and the connection, still open (so a thread-per-connection
/// server's thread is still there to have its CPU time read: `cpu.rs`).
pub fn ping_pong(
    address: &str,
    n: usize,
    size: usize,
    reply: usize,
    spin: bool,
) -> std::io::Result<(Duration, Box<dyn Stream>)> {
    let mut s = connect(address)?;
    if spin {
        s.set_nonblocking(true)?;
    }
    let req = request(size, reply, false);
    let mut buf = vec![0u8; 4 + reply];
    let start = Instant::now();
    for _ in 0..n {
        write_all_spin(&mut *s, &req, spin)?;
        read_exact_spin(&mut *s, &mut buf, spin)?;
    }
    Ok((start.elapsed(), s))
}

/// `n` round trips with `depth` requests in flight: total time. One thread keeps the
/// window full: it reads whatever replies have arrived and writes as many new requests
/// in one write.
pub fn pipelined(address: &str, n: usize, depth: usize, size: usize, reply: usize) -> std::io::Result<Duration> {
    let mut s = connect(address)?;
    let req = request(size, reply, false);
    let frame = 4 + reply;
    let start = Instant::now();
    let first = depth.min(n);
    s.write_all(&req.repeat(first))?;
    let (mut sent, mut done) = (first, 0usize);
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial = 0usize;
    while done < n {
        let got = s.read(&mut buf)?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        partial += got;
        let replies = partial / frame;
        partial %= frame;
        done += replies;
        let more = replies.min(n - sent);
        if more > 0 {
            s.write_all(&req.repeat(more))?;
            sent += more;
        }
    }
    Ok(start.elapsed())
}

/// 1 MiB echoed `n` times: total time.
pub fn echo_bulk(address: &str, n: usize, bytes: usize) -> std::io::Result<Duration> {
    let mut s = connect(address)?;
    let req = request(bytes, bytes, true);
    let mut buf = vec![0u8; 4 + bytes];
    let start = Instant::now();
    for _ in 0..n {
        s.write_all(&req)?;
        s.read_exact(&mut buf)?;
    }
    Ok(start.elapsed())
}

/// A bare connect plus one small round trip, `n` times: total time.
pub fn connect_rtt(address: &str, n: usize) -> std::io::Result<Duration> {
    let req = request(16, 8, false);
    let mut buf = [0u8; 12];
    let start = Instant::now();
    for _ in 0..n {
        let mut s = connect(address)?;
        s.write_all(&req)?;
        s.read_exact(&mut buf)?;
    }
    Ok(start.elapsed())
}
