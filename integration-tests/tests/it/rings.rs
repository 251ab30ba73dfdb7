//! The shared-memory transport (`--shared-memory`, `ClientOptions::shared_memory`):
//! every kind of call crossing the rings as it crosses a socket, the refusals, a client
//! SIGKILLed mid-call (its segment goes with it), a server SIGKILLed mid-call (the call
//! ends at once), a hostile peer writing garbage into the ring (that connection ends,
//! nobody else notices), eight producer and eight consumer processes moving every item
//! exactly once over shared memory, large values with no lost wake-up, and an idle
//! connection costing no CPU.

use crate::raw::Raw;
use crate::server_bin::{ServerChild, key};
use crate::util::{self, sigkill, wait_until, worker};
use manager_client::proto::ring;
use manager_client::{Client, ClientOptions, RemoteErrorKind};
use manager_server::Server;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::process::{Child, Stdio};

fn over_shm() -> ClientOptions {
    ClientOptions { shared_memory: true, ..ClientOptions::default() }
}

/// The ring segments process `pid` has mapped (`memfd:manager-rings` in its maps).
fn ring_mappings(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map(|maps| maps.lines().filter(|l| l.contains("memfd:manager-rings")).count())
        .unwrap_or(0)
}

/// Connections the server reports as shared-memory ones.
async fn shm_connections(client: &Client) -> usize {
    let conns = client.inspect_connections().await.unwrap();
    conns.iter().filter(|c| c.peer.ends_with("(shared memory)")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_call_crosses_the_rings_as_it_crosses_a_socket() {
    let (_dir, server) = util::start(Server::builder().shared_memory(true)).await;
    let client = Client::connect_with(server.address(), server.authkey(), &over_shm()).await.unwrap();
    let plain = Client::connect(server.address(), server.authkey()).await.unwrap();
    assert_eq!(shm_connections(&plain).await, 1);

    // Plain calls, and values larger than a ring (1 MiB): they cross in pieces.
    let dict = client.dict::<String, Vec<u8>>().await.unwrap();
    dict.insert("small".into(), vec![1, 2, 3]).await.unwrap();
    let big: Vec<u8> = (0..10 << 20).map(|i: u32| (i % 251) as u8).collect();
    dict.insert("big".into(), big.clone()).await.unwrap();
    assert_eq!(dict.get("big").await.unwrap(), Some(big));
    assert_eq!(dict.len().await.unwrap(), 2);

    // 64 calls in flight on the one connection.
    let counter = client.value(0u64).await.unwrap();
    let adds: Vec<_> = (0..64).map(|_| counter.fetch_add(1)).collect();
    let mut before = Vec::new();
    for add in adds {
        before.push(add.await.unwrap());
    }
    before.sort_unstable();
    assert_eq!(before, (0..64).collect::<Vec<u64>>(), "each add saw the one before");
    assert_eq!(counter.get().await.unwrap(), 64);

    // A call that parks, answered when a client on the socket puts an item.
    let queue = client.queue::<u64>(0).await.unwrap();
    let getter = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await }
    });
    wait_until("the get is parked", async || plain.stats().await.unwrap().parked_calls == 1).await;
    let theirs = plain.attach::<manager_client::QueueProxy<u64>>(&queue.token()).await.unwrap();
    theirs.put(7).await.unwrap();
    assert_eq!(getter.await.unwrap().unwrap(), 7);

    // Streams: a dict's items, in batches.
    let many = client.dict::<u64, u64>().await.unwrap();
    many.update((0..5000).map(|i| (i, i * 2)).collect::<Vec<_>>()).await.unwrap();
    let items = many.items().collect_all().await.unwrap();
    assert_eq!(items.len(), 5000);

    // Errors travel as they do over a socket.
    let e = queue.get_timeout(std::time::Duration::from_millis(1)).await.unwrap_err();
    assert_eq!(e.remote_kind(), Some(RemoteErrorKind::Empty));

    // A blocking client over shared memory: the calling thread reads its own replies.
    let (address, key) = (server.address().to_string(), server.authkey().clone());
    let token = queue.token();
    tokio::task::spawn_blocking(move || {
        let client = manager_client::blocking::Client::connect_with(address.as_str(), key, &over_shm()).unwrap();
        let queue: manager_client::blocking::QueueProxy<u64> = client.attach(&token).unwrap();
        for i in 0..1000 {
            queue.put(i).unwrap();
            assert_eq!(queue.get().unwrap(), i);
        }
    })
    .await
    .unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_asks_where_it_cannot_be_served_is_told_why() {
    let (_dir, server) = util::start(Server::builder()).await;
    let e = Client::connect_with(server.address(), server.authkey(), &over_shm()).await.unwrap_err().to_string();
    assert!(e.contains("does not serve connections over shared memory") && e.contains("--shared-memory"), "{e}");
    let e = Client::connect_with("tcp://127.0.0.1:1", b"k", &over_shm()).await.unwrap_err().to_string();
    assert!(e.contains("needs the server's Unix socket"), "{e}");
    let both = ClientOptions { reconnect: Some(Default::default()), ..over_shm() };
    let e = Client::connect_with(server.address(), server.authkey(), &both).await.unwrap_err().to_string();
    assert!(e.contains("cannot be combined"), "{e}");
    // The server goes on serving.
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    assert_eq!(client.value(1u8).await.unwrap().get().await.unwrap(), 1);
    server.shutdown().await;
}

/// Reads the child's stdout until it prints `line`.
fn wait_for_line(child: &mut Child, line: &str) {
    let mut out = BufReader::new(child.stdout.as_mut().unwrap());
    let mut got = String::new();
    while got.trim() != line {
        got.clear();
        assert!(out.read_line(&mut got).unwrap() > 0, "the child ended before printing {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_call_frees_its_segment_and_its_call() {
    let server = ServerChild::start_with(&["--shared-memory"]);
    let client = Client::connect_with(server.address.as_str(), key(), &over_shm()).await.unwrap();
    let queue = client.queue::<String>(0).await.unwrap();
    assert_eq!(ring_mappings(server.pid()), 1, "the parent's own connection");
    let mut cmd = worker();
    cmd.args(["block-get", &integration_tests::token_to_hex(&queue.token())]).stdout(Stdio::piped());
    client.configure_child(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut child = tokio::task::spawn_blocking(move || {
        wait_for_line(&mut child, "WAITING");
        child
    })
    .await
    .unwrap();
    wait_until("the child's get is parked", async || client.stats().await.unwrap().parked_calls == 1).await;
    assert_eq!(ring_mappings(server.pid()), 2);
    assert_eq!(shm_connections(&client).await, 2);
    sigkill(&mut child);
    wait_until("the child's connection is gone", async || client.stats().await.unwrap().connections == 1).await;
    wait_until("its segment is unmapped", async || ring_mappings(server.pid()) == 1).await;
    assert_eq!(client.stats().await.unwrap().parked_calls, 0);
    // Its get took nothing: the item goes to the next getter.
    queue.put("kept".into()).await.unwrap();
    assert_eq!(queue.get().await.unwrap(), "kept");
    // No memfd of a ring stays open in the server: only mappings hold segments.
    let open = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().contains("manager-rings"))
        .count();
    assert_eq!(open, 0);
}

/// A hostile peer: authenticates asking for rings, keeps the descriptors the offer
/// brings, and writes into the segment with `pwrite` (no mapping needed).
struct Hostile {
    raw: Raw,
    fds: Vec<OwnedFd>,
}

impl Hostile {
    fn connect(path: &std::path::Path, key: &manager_client::AuthKey) -> Hostile {
        use manager_client::proto::handshake::{ClientHandshake, NONCE_LEN, VersionRange};
        use manager_client::proto::session::{RingOffer, SessionRequest};
        let mut raw = Raw::connect(path);
        let (hs, hello) = ClientHandshake::new(key, [3; NONCE_LEN], VersionRange::CURRENT);
        let mut hs = hs.with_session(SessionRequest::SharedMemory);
        raw.send_frame(&hello);
        let mut fds = Vec::new();
        loop {
            let msg = raw.recv_frame_with_fds(&mut fds).expect("the server closed during the handshake");
            let step = hs.receive(&msg).unwrap();
            if let Some(reply) = step.reply {
                raw.send_frame(&reply);
            }
            if step.established.is_some() {
                break;
            }
        }
        let offer = raw.recv_frame_with_fds(&mut fds).unwrap();
        assert!(matches!(RingOffer::decode(&offer).unwrap(), RingOffer::Offered { .. }));
        assert_eq!(fds.len(), 5);
        Hostile { raw, fds }
    }

    /// Ring 0's `head`: what the server has read.
    fn head(&self) -> u64 {
        let mut head = [0u8; 8];
        rustix::io::pread(&self.fds[0], &mut head, ring::HEADER_LEN as u64 + 64).unwrap();
        u64::from_le_bytes(head)
    }

    /// Writes `bytes` at `offset` of the segment, then rings the server's data bell.
    fn scribble(&self, offset: u64, bytes: &[u8]) {
        assert_eq!(rustix::io::pwrite(&self.fds[0], bytes, offset).unwrap(), bytes.len());
        rustix::io::write(&self.fds[3], &1u64.to_ne_bytes()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_the_ring_closes_that_connection_only() {
    let (_dir, server) = util::start(Server::builder().shared_memory(true)).await;
    let good = Client::connect_with(server.address(), server.authkey(), &over_shm()).await.unwrap();
    let value = good.value(1u64).await.unwrap();
    let path = std::path::PathBuf::from(server.address().to_string().trim_start_matches("unix:"));
    // Ring 0 (client → server) starts after the segment's header; its control block
    // holds `tail` first, then `head` a cache line later; its data follows the block.
    let control = ring::HEADER_LEN as u64;
    let data = control + ring::HEADER_LEN as u64;
    // Each case: writes into the segment (offset, bytes), in order; an empty write
    // waits until the server has read everything written so far (its `head`).
    type Writes = Vec<(u64, Vec<u8>)>;
    let cases: [(&str, Writes); 3] = [
        ("a tail past the capacity", vec![(control, u64::MAX.to_le_bytes().to_vec())]),
        (
            "a tail that goes backwards",
            vec![
                (data, vec![0; 3]),
                (control, 3u64.to_le_bytes().to_vec()),
                (0, Vec::new()),
                (control, 1u64.to_le_bytes().to_vec()),
            ],
        ),
        ("bytes that are no frame", vec![(data, vec![0xff; 64]), (control, 64u64.to_le_bytes().to_vec())]),
    ];
    for (what, writes) in cases {
        let hostile = tokio::task::spawn_blocking({
            let (path, key) = (path.clone(), server.authkey().clone());
            move || Hostile::connect(&path, &key)
        })
        .await
        .unwrap();
        wait_until("the hostile peer is served", async || shm_connections(&good).await == 2).await;
        tokio::task::spawn_blocking(move || {
            let mut hostile = hostile;
            let mut written = 0;
            for (offset, bytes) in writes {
                if bytes.is_empty() {
                    util::wait_until_blocking("the server read what was written", || hostile.head() == written);
                } else {
                    if offset == control {
                        written = u64::from_le_bytes(bytes.clone().try_into().unwrap());
                    }
                    hostile.scribble(offset, &bytes);
                }
            }
            let mut byte = [0u8; 1];
            let read = std::io::Read::read(&mut hostile.raw.stream, &mut byte);
            assert_eq!(read.unwrap(), 0, "{what}: the server closes that connection");
        })
        .await
        .unwrap();
        wait_until("only the good connection is left", async || shm_connections(&good).await == 1).await;
        // The good client never noticed.
        value.fetch_add(1).await.unwrap();
    }
    assert_eq!(value.get().await.unwrap(), 4);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_producers_and_eight_consumers_over_shared_memory_move_every_item_exactly_once() {
    let server = ServerChild::start_with(&["--shared-memory"]);
    let client = Client::connect_with(server.address.as_str(), key(), &over_shm()).await.unwrap();
    let queue = client.queue::<u64>(0).await.unwrap();
    // The consumers (and this client) stay connected until the queue shuts down; the
    // producers, which start the same way, may already be done.
    let consumers_over_shm = async || {
        wait_until("the consumers are connected over shared memory", async || shm_connections(&client).await >= 9).await
    };
    util::eight_by_eight(&client, &queue, 20_000, consumers_over_shm).await;
}

/// CPU time process `pid` has used, in clock ticks (utime + stime, `/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after its ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_over_shared_memory_costs_the_server_no_cpu() {
    let server = ServerChild::start_with(&["--shared-memory"]);
    let client = Client::connect_with(server.address.as_str(), key(), &over_shm()).await.unwrap();
    let counter = client.value(0u64).await.unwrap();
    // Busy first, so that the adaptive poll budget has grown.
    for _ in 0..2000 {
        counter.fetch_add(1).await.unwrap();
    }
    // Then idle for a second: the server may poll once more, briefly, then sleeps.
    let before = cpu_ticks(server.pid());
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let used = cpu_ticks(server.pid()) - before;
    // A core spinning for that second would be ~100 ticks (10 ms each).
    assert!(used < 20, "the server used {used} ticks of CPU in an idle second");
    assert_eq!(counter.get().await.unwrap(), 2000);
}

/// A blocking caller reading its own reply shares the ring's "reader sleeps" mark with
/// the client's reader task; large values make the two take turns (the caller reads a
/// reply in pieces, the runtime runs while the rest of a request is written). A caller
/// that used the mark must let the task set it again, or the task sleeps unrung and the
/// next reply waits for a keepalive ping: with keepalive at ten minutes, a hang.
#[test]
fn a_blocking_client_moving_large_values_is_never_left_waiting_for_a_bell() {
    let server = ServerChild::start_with(&["--shared-memory"]);
    let options = ClientOptions { keepalive: std::time::Duration::from_secs(600), ..over_shm() };
    let address = server.address.clone();
    crate::server_bin::within(crate::server_bin::HANG * 3, "500 rounds of 1 MiB values", move || {
        let client = manager_client::blocking::Client::connect_with(address.as_str(), key(), &options).unwrap();
        let mut payload = manager_client::Bytes::from(vec![7u8; 1 << 20]);
        let value = client.value(payload.clone()).unwrap();
        for _ in 0..500 {
            value.set(payload).unwrap();
            payload = value.get().unwrap();
        }
        assert_eq!(payload.len(), 1 << 20);
    });
}

/// The socket beside the rings is the liveness channel: a server SIGKILLed while a
/// blocking caller sleeps on its bell ends the call with `ConnectionLost`, at once.
#[test]
fn a_server_killed_mid_call_ends_the_call_with_connection_lost() {
    let mut server = ServerChild::start_with(&["--shared-memory"]);
    let options = ClientOptions { keepalive: std::time::Duration::from_secs(600), ..over_shm() };
    let client = manager_client::blocking::Client::connect_with(server.address.as_str(), key(), &options).unwrap();
    let queue = client.queue::<u64>(0).unwrap();
    let waiting = std::thread::spawn(move || queue.get());
    crate::util::wait_until_blocking("the get is parked", || {
        client.stats().map(|s| s.parked_calls == 1).unwrap_or(false)
    });
    sigkill(&mut server.child);
    let got = crate::server_bin::within(crate::server_bin::HANG, "the call to end", move || waiting.join().unwrap());
    assert!(matches!(got, Err(manager_client::Error::ConnectionLost { .. })), "{got:?}");
}
