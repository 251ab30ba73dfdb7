//! Tokens in flight: a token keeps its object alive for the server's lease after it
//! is minted, so a parent can hand a proxy to a child and drop its own at once; an
//! object whose token is never attached (or whose sender dies) is freed after the
//! lease; a late token fails clearly. With real child processes, std's and tokio's.

use crate::server_bin::{ServerChild, binary};
use crate::util::{self, sigkill, wait_until, worker};
use manager_client::{Client, Error, ListProxy, Proxy};
use manager_server::Server;
use std::process::Stdio;
use std::time::Duration;

/// Waits until the server holds no object and runs no lease.
async fn wait_all_freed(client: &Client) {
    wait_until("every object and lease to be gone", async || {
        let stats = client.stats().await.unwrap();
        stats.objects == 0 && stats.leases == 0
    })
    .await;
}

/// `(objects, leases)` as the server counts them now.
async fn held(client: &Client) -> (u64, u64) {
    let stats = client.stats().await.unwrap();
    (stats.objects, stats.leases)
}

// Multi-threaded: the server runs on this runtime while the test waits on the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_takes_a_list_its_parent_dropped_and_the_lease_frees_it_afterwards() {
    let (_dir, server) = util::start(Server::builder().token_lease(Duration::from_secs(3))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let list = client.list_from::<u32>(&[1, 2]).await.unwrap();
    let mut cmd = worker();
    client.pass_proxy(&mut cmd, "results", &list).unwrap();
    // The child waits a second before attaching (blocking client).
    let child =
        cmd.args(["inherit-append", "results", "7", "1000", "blocking"]).stdout(Stdio::piped()).spawn().unwrap();
    drop(list);
    // The parent's Decref went before this request: only the lease holds the list now.
    assert_eq!(held(&client).await, (1, 1));
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child failed: {:?} {stdout}", out.status);
    // The child printed a second token, leased again after its append.
    let again: ListProxy<u32> = client.attach(stdout.trim()).await.unwrap();
    assert_eq!(again.copy().await.unwrap(), vec![1, 2, 7]);
    drop(again);
    wait_all_freed(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokio_command_hands_a_proxy_to_an_async_child() {
    let (_dir, server) = util::start(Server::builder().token_lease(Duration::from_secs(3))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let list = client.list_from::<u32>(&[5]).await.unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_worker"));
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).stdout(Stdio::piped());
    client.pass_proxy(&mut cmd, "numbers_2", &list).unwrap();
    let child = cmd.args(["inherit-append", "numbers_2", "6", "1000", "async"]).spawn().unwrap();
    drop(list);
    assert_eq!(held(&client).await, (1, 1));
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child failed: {:?} {stdout}", out.status);
    let token: manager_client::Token = stdout.trim().parse().unwrap();
    let again: ListProxy<u32> = client.attach(&token).await.unwrap();
    assert_eq!(again.copy().await.unwrap(), vec![5, 6]);
    drop(again);
    wait_all_freed(&client).await;
}

#[tokio::test]
async fn a_token_never_attached_is_freed_after_its_lease_and_then_attaching_it_says_it_is_gone() {
    let (_dir, server) = util::start(Server::builder().token_lease(Duration::from_secs(1))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let list = client.list::<u32>().await.unwrap();
    let before = client.stats().await.unwrap().requests;
    // Minting in a loop rides on one lease: no request per token, one lease per object.
    let tokens: Vec<String> = (0..1000).map(|_| list.token().to_string()).collect();
    let after = client.stats().await.unwrap();
    assert!(after.requests - before <= 5, "{} requests for 1000 tokens", after.requests - before);
    assert_eq!(after.leases, 1);
    drop(list);
    assert_eq!(held(&client).await, (1, 1));
    wait_all_freed(&client).await;
    let err = client.attach::<ListProxy<u32>>(tokens[999].as_str()).await.unwrap_err();
    assert!(matches!(err, Error::ObjectGone { ref type_id, .. } if type_id == "list"), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("`list` object") && message.contains("lease ran out"), "{message}");
    // A later object never takes the old id: the late token cannot reach it.
    let newer = client.list_from::<u32>(&[9]).await.unwrap();
    assert_ne!(newer.handle().object(), tokens[0].parse::<manager_client::Token>().unwrap().object);
    assert!(matches!(client.attach::<ListProxy<u32>>(tokens[0].as_str()).await, Err(Error::ObjectGone { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_handed_an_expired_token_gets_the_gone_error() {
    let (_dir, server) = util::start(Server::builder().token_lease(Duration::from_secs(1))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let list = client.list::<u32>().await.unwrap();
    let mut cmd = worker();
    client.pass_proxy(&mut cmd, "late", &list).unwrap();
    drop(list);
    wait_all_freed(&client).await;
    let out =
        tokio::task::spawn_blocking(move || cmd.args(["inherit", "late"]).stderr(Stdio::piped()).output().unwrap())
            .await
            .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("`list` object") && stderr.contains("is gone") && stderr.contains("lease"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_with_its_token_in_flight_leaks_nothing_beyond_the_lease() {
    let (_dir, server) = util::start(Server::builder().token_lease(Duration::from_secs(2))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let mut cmd = worker();
    client.configure_child(&mut cmd);
    let mut child = cmd.arg("mint-and-hang").stdout(Stdio::piped()).spawn().unwrap();
    let text = crate::util::first_line(&mut child).await;
    wait_until("the sender's lease", async || client.stats().await.unwrap().leases == 1).await;
    sigkill(&mut child);
    wait_until("the sender's connection to close", async || client.stats().await.unwrap().connections == 1).await;
    // The sender is gone with its proxy and connection; the lease still holds the list.
    assert_eq!(held(&client).await, (1, 1));
    let list: ListProxy<u32> = client.attach(text.trim()).await.unwrap();
    assert_eq!(list.copy().await.unwrap(), vec![1, 2, 3]);
    drop(list);
    wait_all_freed(&client).await;
}

#[tokio::test]
async fn bad_names_missing_variables_and_garbage_tokens_are_refused_clearly() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let list = client.list::<u32>().await.unwrap();
    let mut cmd = worker();
    for bad in ["", "my-results", "a b", "ü"] {
        let err = client.pass_proxy(&mut cmd, bad, &list).unwrap_err().to_string();
        assert!(err.contains("cannot name a handed-over proxy"), "{bad:?}: {err}");
    }
    let err = client.inherited::<ListProxy<u32>>("never_passed_here").await.unwrap_err().to_string();
    assert!(err.contains("MANAGER_PROXY_never_passed_here is not set") && err.contains("parent must"), "{err}");
    let text = list.token().to_string();
    for garbage in ["hello", "mgr1-AAAA", &text[..text.len() / 2]] {
        let err = client.attach::<ListProxy<u32>>(garbage).await.unwrap_err();
        assert!(matches!(err, Error::BadToken(_)), "{garbage:?}: {err:?}");
        assert!(err.to_string().starts_with("not a token: "), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_server_takes_its_lease_from_the_flag_and_refuses_bad_values() {
    for bad in ["0", "-1", "1.5", "forever", "86401"] {
        let out = std::process::Command::new(binary()).arg(format!("--token-lease={bad}")).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("--token-lease"), "{bad}: {stderr}");
    }
    let server = ServerChild::start_with(&["--token-lease", "1"]);
    let client = server.client().await;
    let list = client.list::<u32>().await.unwrap();
    let token = list.token();
    drop(list);
    assert_eq!(held(&client).await, (1, 1));
    wait_all_freed(&client).await;
    assert!(matches!(client.attach::<ListProxy<u32>>(&token).await, Err(Error::ObjectGone { .. })));
}

#[tokio::test]
async fn a_proxy_serialized_outside_a_container_is_leased_and_one_stored_in_a_container_is_not() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let inner = client.list_from::<u32>(&[1]).await.unwrap();
    let dict = client.dict::<String, ListProxy<u32>>().await.unwrap();
    dict.insert("inner".into(), inner.clone()).await.unwrap();
    assert_eq!(held(&client).await, (2, 0), "the dict's reference holds the list: no lease");
    let bytes = manager_client::proto::postcard::to_allocvec(&inner).unwrap();
    assert_eq!(held(&client).await, (2, 1), "a proxy encoded on its own travels leased");
    let token: manager_client::Token = manager_client::proto::postcard::from_bytes(&bytes).unwrap();
    assert_eq!(token.object, inner.handle().object());
}

/// `client.child(..)`: the blocking client's short way to start a worker with proxies.
/// Two children are each handed the list and append to it; a child that fails makes
/// `join` fail, naming the program; a name that cannot be handed over fails `spawn`
/// before anything starts.
#[test]
fn blocking_child_builder_hands_proxies_and_join_reports_a_failed_child() {
    use manager_client::blocking;
    let server = Server::builder().start_blocking().unwrap();
    let client = blocking::Client::connect(server.address(), server.authkey()).unwrap();
    let list: blocking::ListProxy<u32> = client.list().unwrap();
    let worker = env!("CARGO_BIN_EXE_worker");
    let spawn = |value: &str| {
        let mut child =
            client.child(worker).args(["inherit-append", "results", value, "0", "blocking"]).proxy("results", &list);
        child.command().stdout(Stdio::null());
        child.spawn().unwrap()
    };
    let children = [spawn("7"), spawn("8")];
    for child in children {
        child.join().unwrap();
    }
    let mut items = list.copy().unwrap();
    items.sort();
    assert_eq!(items, vec![7, 8]);

    // The child finds no proxy named `other`: it exits with an error, and join says so.
    let failed = client.child(worker).args(["inherit", "other"]).proxy("results", &list).spawn().unwrap();
    let err = failed.join().unwrap_err().to_string();
    assert!(err.contains("worker") && err.contains("failed"), "{err}");

    let err = client.child(worker).arg("exit").proxy("not a name", &list).spawn().unwrap_err().to_string();
    assert!(err.contains("`not a name`"), "{err}");
    assert_eq!(list.len().unwrap(), 2, "nothing ran");
}
