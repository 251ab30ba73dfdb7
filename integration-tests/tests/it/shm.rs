//! Shared memory blocks: mapped by real child processes, freed when every holder is
//! SIGKILLed or the server stops (no memfd left in the server, nothing in /dev/shm),
//! the server's cap on live bytes, and the errors of clients that cannot map a block.

use crate::server_bin::{HANG, ServerChild, key};
use crate::util::{self, sigkill, wait_until, worker};
use manager_client::{Client, RemoteErrorKind, SharedMemoryProxy, ShmError};
use manager_server::Server;
use std::process::{Child, Command, Stdio};

/// The memfds process `pid` holds open (`memfd:` links in `/proc/<pid>/fd`).
fn memfds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|link| link.to_string_lossy().starts_with("/memfd:manager-shared-memory"))
                .count()
        })
        .unwrap_or(0)
}

/// What `/dev/shm` holds now that this workspace could have made.
fn dev_shm() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|name: &String| name.contains("manager"))
        .collect()
}

/// A worker with the environment of `server`'s clients.
fn worker_of(server: &ServerChild) -> Command {
    let mut cmd = worker();
    cmd.env("MANAGER_ADDRESS", &server.address).env("MANAGER_AUTHKEY", key().to_hex()).stdout(Stdio::piped());
    cmd
}

/// Reads the child's stdout lines until `count` are read.
async fn lines(child: &mut Child, count: usize) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().unwrap();
    tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().take(count).map(Result::unwrap).collect())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_reads_what_its_parent_wrote_and_writes_back() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let block = client.shared_memory(256).await.unwrap();
    let memory = block.map().await.unwrap();
    let ints = memory.slice_at::<u64>(0, 16).unwrap();
    let floats = memory.slice_at::<f64>(128, 16).unwrap();
    ints.copy_from_slice(0, &(1..=16).collect::<Vec<u64>>()).unwrap();
    floats.copy_from_slice(0, &[0.25; 16]).unwrap();
    let mut cmd = worker();
    client.pass_proxy(&mut cmd, "blk", &block).unwrap();
    cmd.args(["shm-rw", "blk"]);
    let out = tokio::task::spawn_blocking(move || util::run_worker(cmd)).await.unwrap();
    assert_eq!(out, "u64 sum 136 f64 sum 4\n");
    assert_eq!(ints.to_vec(), (1..=16).map(|x| x * 10).collect::<Vec<u64>>());
    assert_eq!(floats.to_vec(), vec![0.75; 16]);
    assert_eq!(block.size().await.unwrap(), 256);
    server.shutdown().await;
}

#[tokio::test]
async fn views_check_bounds_alignment_and_length() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let block = client.shared_memory(12).await.unwrap();
    let id = manager_client::Proxy::handle(&block).object();
    let memory = block.map().await.unwrap();
    let e = memory.write(10, b"abc").unwrap_err().to_string();
    assert_eq!(e, format!("3 bytes at offset 10 do not fit in shared memory block {id} of 12 bytes"));
    assert!(memory.read(usize::MAX, &mut [0u8; 2]).is_err());
    let e = memory.slice::<u64>().unwrap_err().to_string();
    assert!(e.contains("cannot be viewed as [u64]") && e.contains("not a whole number of 8-byte elements"), "{e}");
    let e = memory.slice_at::<u32>(2, 1).unwrap_err().to_string();
    assert!(e.contains("offset 2 is not a multiple of its alignment 4"), "{e}");
    assert!(matches!(memory.slice_at::<u32>(4, 3), Err(ShmError::OutOfBounds { .. })));
    let xs = memory.slice::<u32>().unwrap();
    xs.set(2, 9).unwrap();
    let e = xs.get(3).unwrap_err().to_string();
    assert_eq!(e, "index 3 is out of range for a SharedSlice of length 3");
    assert!(memory.slice::<()>().is_err(), "a zero-sized type");
    assert_eq!(memory.to_vec()[8..], 9u32.to_ne_bytes());
    // A block that holds no list says so.
    let e = memory.list::<String>().unwrap_err().to_string();
    assert!(e.contains("does not hold a ShareableList"), "{e}");
    // Inspect shows the block's size, never its bytes.
    let report = client.inspect_object(id).await.unwrap();
    assert_eq!((report.type_id.as_str(), report.repr.as_str()), ("shared_memory", "<shared_memory size=12>"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shareable_list_made_in_one_process_is_read_and_updated_in_another() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let words = vec!["alpha".to_string(), "beta".into(), "gamma".into()];
    let (block, list) = client.shareable_list(&words).await.unwrap();
    assert_eq!((list.len(), list.slot_size()), (3, 6));
    let mut cmd = worker();
    client.pass_proxy(&mut cmd, "list", &block).unwrap();
    cmd.args(["shm-list", "list"]);
    let out = tokio::task::spawn_blocking(move || util::run_worker(cmd)).await.unwrap();
    assert_eq!(
        out,
        "[\"alpha\", \"beta\", \"gamma\"]\nthe value's encoding (101 bytes) exceeds the available storage of \
         ShareableList slot 1 (6 bytes, fixed when the list was made): make the list with a larger slot size\n"
    );
    assert_eq!(list.to_vec().unwrap(), ["child", "beta", "gamma"]);
    // Given slots take larger values.
    let (_, roomy) = client.shareable_list_with_slot(&[1u64, 2], Some(64)).await.unwrap();
    roomy.set(1, &u64::MAX).unwrap();
    assert_eq!(roomy.to_vec().unwrap(), [1, u64::MAX]);
    assert!(roomy.get(2).is_err());
    server.shutdown().await;
}

/// Two processes hold a block (one made it, one attached it), both mapped; both are
/// SIGKILLed: the block leaves the table and the server holds no memfd any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_of_a_block_killed_frees_it() {
    let before = dev_shm();
    let server = ServerChild::start_with(&["--token-lease", "1"]);
    let observer = server.client().await;
    let mut maker = worker_of(&server).arg("shm-hold").spawn().unwrap();
    let out = lines(&mut maker, 2).await;
    assert_eq!(out[1], "mapped");
    let mut other = worker_of(&server).args(["shm-hold", &out[0]]).spawn().unwrap();
    assert_eq!(lines(&mut other, 1).await, ["mapped"]);
    assert_eq!(memfds(server.pid()), 1);
    assert_eq!(observer.stats().await.unwrap().objects, 1);
    sigkill(&mut maker);
    sigkill(&mut other);
    wait_until("the block to leave the table and its memfd to close", async || {
        let stats = observer.stats().await.unwrap();
        stats.objects == 0 && stats.leases == 0 && memfds(server.pid()) == 0
    })
    .await;
    assert_eq!(dev_shm(), before, "nothing new in /dev/shm");
}

/// A server that stops takes its blocks with it; a mapping made before stays valid
/// memory (it is the mapping's now), and nothing is left in /dev/shm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_leaves_nothing_and_mappings_stay_valid() {
    let before = dev_shm();
    let mut server = ServerChild::start();
    let client = server.client().await;
    let blocks = [client.shared_memory(4096).await.unwrap(), client.shared_memory(8192).await.unwrap()];
    let memory = blocks[1].map().await.unwrap();
    assert_eq!(memfds(server.pid()), 2);
    assert!(server.terminate_within(HANG).is_some(), "the server stops");
    memory.write(8000, b"still here").unwrap();
    let mut back = [0u8; 10];
    memory.read(8000, &mut back).unwrap();
    assert_eq!(&back, b"still here");
    // No new mapping once the server is gone.
    assert!(blocks[0].map().await.is_err());
    assert_eq!(dev_shm(), before, "nothing new in /dev/shm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_on_live_bytes_holds_and_the_server_keeps_serving() {
    let server = ServerChild::start_with(&["--max-shared-memory", "1048576"]);
    let hostile = server.client().await;
    let e = hostile.shared_memory(0).await.unwrap_err();
    assert!(matches!(&e, manager_client::Error::Remote(r) if r.kind == RemoteErrorKind::InvalidValue), "{e}");
    assert!(e.to_string().contains("0 bytes"), "{e}");
    let e = hostile.shared_memory(2 << 20).await.unwrap_err();
    assert!(matches!(&e, manager_client::Error::Remote(r) if r.kind == RemoteErrorKind::LimitExceeded), "{e}");
    let text = e.to_string();
    assert!(text.contains("2097152 bytes") && text.contains("cap of 1048576 bytes"), "{text}");
    assert!(text.contains("--max-shared-memory"), "{text}");
    // A hostile peer takes blocks until the cap...
    let mut held: Vec<SharedMemoryProxy> = Vec::new();
    let refused = loop {
        match hostile.shared_memory(300_000).await {
            Ok(block) => held.push(block),
            Err(e) => break e.to_string(),
        }
        assert!(held.len() <= 4, "the cap let more than 1 MiB through");
    };
    assert_eq!(held.len(), 3);
    assert!(refused.contains("900000 bytes are in blocks already"), "{refused}");
    // ...and everyone else is still served (other types, and blocks once bytes are freed).
    let other = server.client().await;
    other.dict::<String, u64>().await.unwrap().insert("k".into(), 1).await.unwrap();
    assert!(other.shared_memory(200_000).await.is_err());
    drop(held);
    wait_until("the dropped blocks' bytes to come back", async || other.shared_memory(1 << 20).await.is_ok()).await;
    // The successful try's block was dropped with its proxy: its memfd closes too.
    wait_until("the server to hold no memfd", async || memfds(server.pid()) == 0).await;
}

/// A client in another pid namespace (as in a container) cannot reach the server's
/// descriptor: a clear error, never a wrong file. Needs `unshare`; skipped without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_in_another_pid_namespace_gets_a_clear_error() {
    let server = ServerChild::start();
    let client = server.client().await;
    let block = client.shared_memory(4096).await.unwrap();
    let token = block.token().to_string();
    let probe = Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("SKIPPED: unshare --pid --fork --mount-proc is not permitted here");
        return;
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", env!("CARGO_BIN_EXE_worker"), "shm-map", &token]);
    cmd.env("MANAGER_ADDRESS", &server.address).env("MANAGER_AUTHKEY", key().to_hex());
    let out = tokio::task::spawn_blocking(move || util::run_worker(cmd)).await.unwrap();
    eprintln!("a client in another pid namespace: {out}");
    assert!(out.starts_with("error: "), "{out}");
    assert!(
        out.contains("another pid namespace")
            && out.contains(&manager_client::Proxy::handle(&block).object().to_string()),
        "{out}"
    );
    // The same client in the server's namespace maps it.
    let mut cmd = worker_of(&server);
    cmd.args(["shm-map", &token]);
    let out = tokio::task::spawn_blocking(move || util::run_worker(cmd)).await.unwrap();
    assert_eq!(out, "mapped 4096 bytes\n");
}

/// A client reaching the server over TCP (not only its Unix socket) on the same host
/// maps blocks as well: the host is what matters, not the transport.
#[tokio::test]
async fn a_tcp_client_on_the_same_host_maps_blocks() {
    let server = ServerChild::start_with(&["--listen", "tcp://127.0.0.1:0"]);
    let client = Client::connect(server.tcp[0].as_str(), crate::server_bin::KEY).await.unwrap();
    let xs = client.shared_memory(64).await.unwrap().map().await.unwrap().slice::<u64>().unwrap();
    xs.set(7, 7).unwrap();
    assert_eq!(xs.get(7).unwrap(), 7);
}
