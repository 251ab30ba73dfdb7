//! TLS (`tls://`): calls through a `manager-server` process serving TLS, async and
//! blocking, large values; every way the TLS handshake can fail, each told to the user
//! within the connect timeout and naming the address; mutual TLS; `from_env` and the
//! hand-off of the TLS files to a child.

use crate::server_bin::{HANG, KEY, ServerChild, key, within};
use crate::tls_certs::{Certs, arg, pki, tls_server};
use crate::util;
use manager_client::{Bytes, Client, ClientOptions, ClientTls, Error, ValueProxy};
use std::time::{Duration, Instant};

/// The connect timeout the failing connects run with: each must fail well within it.
const CONNECT: Duration = Duration::from_secs(5);

/// Connects with `tls`, checking that the outcome (success or failure) comes within the
/// connect timeout.
async fn connect(address: &str, tls: Option<ClientTls>) -> Result<Client, Error> {
    let options = ClientOptions { tls, connect_timeout: CONNECT, ..ClientOptions::default() };
    let started = Instant::now();
    let outcome = tokio::time::timeout(HANG, Client::connect_with(address, KEY, &options)).await.expect("connect hung");
    assert!(started.elapsed() < CONNECT, "took {:?}", started.elapsed());
    outcome
}

fn refused(outcome: Result<Client, Error>) -> String {
    match outcome {
        Ok(_) => panic!("the connection was accepted"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn calls_over_tls_async_and_blocking_with_a_mebibyte_value() {
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let server = tls_server(&cert, &[]);
    let client = connect(&server.address, Some(ClientTls::ca_file(&ca.pem).unwrap())).await.unwrap();
    assert_eq!(client.address().to_string(), server.address);
    let greeting: ValueProxy<String> = client.named_unchecked("greeting").await.unwrap();
    assert_eq!(greeting.get().await.unwrap(), "hello");
    // 1 MiB each way, and many small calls on top of it.
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let value = client.value(Bytes::from(big.clone())).await.unwrap();
    assert_eq!(value.get().await.unwrap().into_vec(), big);
    let counter = client.value(0u64).await.unwrap();
    let calls: Vec<_> = (0..200).map(|_| counter.fetch_add(1)).collect();
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(counter.get().await.unwrap(), 200);

    // The blocking client, which reads its own replies on the calling thread.
    let (address, ca_pem) = (server.address.clone(), ca.pem.clone());
    within(HANG, "blocking calls over TLS", move || {
        let options = ClientOptions { tls: Some(ClientTls::ca_file(&ca_pem).unwrap()), ..ClientOptions::default() };
        let client = manager_client::blocking::Client::connect_with(address.as_str(), KEY, &options).unwrap();
        let value = client.value(Bytes::from(big.clone())).unwrap();
        assert_eq!(value.get().unwrap().into_vec(), big);
        let small = client.value(1u64).unwrap();
        for _ in 0..100 {
            small.fetch_add(1).unwrap();
        }
        assert_eq!(small.get().unwrap(), 101);
    });
}

#[tokio::test]
async fn a_pinned_certificate_is_trusted_as_it_is() {
    let certs = Certs::new();
    // Pinned: trusted byte for byte, whoever signed it (the client knows no CA).
    let (ca, cert) = pki(&certs);
    let server = tls_server(&cert, &[]);
    let client = connect(&server.address, Some(ClientTls::pinned_file(&cert.cert).unwrap())).await.unwrap();
    client.ping().await.unwrap();
    // Another certificate pinned: refused.
    let other = certs.issue(&ca, "other", &["127.0.0.1"], false);
    let err = refused(connect(&server.address, Some(ClientTls::pinned_file(&other.cert).unwrap())).await);
    assert!(err.contains("not the pinned one"), "{err}");
}

#[tokio::test]
async fn certificate_failures_are_named_and_the_server_serves_on() {
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let server = tls_server(&cert, &[]);
    let port = server.address.rsplit_once(':').unwrap().1.to_owned();

    // A CA the server's certificate does not chain to.
    let stranger = certs.ca("stranger");
    let err = refused(connect(&server.address, Some(ClientTls::ca_file(&stranger.pem).unwrap())).await);
    assert!(err.contains(&server.address) && err.contains("not signed by a CA this client trusts"), "{err}");

    // The right CA, the wrong name: the certificate is for 127.0.0.1 only.
    let by_name = format!("tls://localhost:{port}");
    let err = refused(connect(&by_name, Some(ClientTls::ca_file(&ca.pem).unwrap())).await);
    assert!(err.contains(&by_name) && err.contains("not valid for this host name"), "{err}");

    // No trust configured: refused before connecting, saying what to set.
    let err = refused(connect(&server.address, None).await);
    assert!(err.contains("MANAGER_TLS_CA") && err.contains("ClientOptions::tls"), "{err}");

    // The server logged each refusal, without key material, and serves others still.
    let good = connect(&server.address, Some(ClientTls::ca_file(&ca.pem).unwrap())).await.unwrap();
    good.ping().await.unwrap();
    let log = server.log();
    assert!(log.contains("TLS handshake refused"), "{log}");
    let key_pem = std::fs::read_to_string(&cert.key).unwrap();
    let key_body = key_pem.lines().nth(1).unwrap();
    assert!(!log.contains("PRIVATE KEY") && !log.contains(key_body), "{log}");
}

#[tokio::test]
async fn an_expired_certificate_is_named() {
    let certs = Certs::new();
    let ca = certs.ca("ca");
    let expired = certs.issue(&ca, "expired", &["127.0.0.1"], true);
    let server = tls_server(&expired, &[]);
    let err = refused(connect(&server.address, Some(ClientTls::ca_file(&ca.pem).unwrap())).await);
    assert!(err.contains(&server.address) && err.contains("expired"), "{err}");
}

#[tokio::test]
async fn plain_and_tls_ports_tell_a_client_of_the_other_kind() {
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let tls = tls_server(&cert, &[]);
    let port = tls.address.rsplit_once(':').unwrap().1.to_owned();

    // A plain client on the TLS port.
    let plain_address = format!("tcp://127.0.0.1:{port}");
    let err = refused(connect(&plain_address, None).await);
    assert!(err.contains(&plain_address) && err.contains("the server expects TLS: use tls://"), "{err}");

    // A TLS client on a plain port.
    let mut plain = ServerChild::start_with(&["--listen", "tcp://127.0.0.1:0"]);
    plain.address = plain.tcp[0].clone();
    let plain_port = plain.address.rsplit_once(':').unwrap().1.to_owned();
    let tls_address = format!("tls://127.0.0.1:{plain_port}");
    let err = refused(connect(&tls_address, Some(ClientTls::ca_file(&ca.pem).unwrap())).await);
    assert!(err.contains(&tls_address) && err.contains("the server does not speak TLS: use tcp://"), "{err}");

    // Both servers serve their own kind still.
    connect(&tls.address, Some(ClientTls::ca_file(&ca.pem).unwrap())).await.unwrap().ping().await.unwrap();
    connect(&plain.address, None).await.unwrap().ping().await.unwrap();
}

#[tokio::test]
async fn mutual_tls_accepts_certified_clients_only() {
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let clients_ca = certs.ca("clients");
    let server = tls_server(&cert, &["--tls-client-ca", arg(&clients_ca.pem)]);
    let trust = || ClientTls::ca_file(&ca.pem).unwrap();

    // Without a client certificate: refused, and told why.
    let err = refused(connect(&server.address, Some(trust())).await);
    assert!(err.contains(&server.address) && err.contains("requires a client certificate"), "{err}");

    // A certificate the clients' CA did not sign: refused.
    let rogue_ca = certs.ca("rogue");
    let rogue = certs.issue(&rogue_ca, "rogue-client", &["client.example"], false);
    let err = refused(connect(&server.address, Some(trust().with_client_cert(&rogue.cert, &rogue.key).unwrap())).await);
    assert!(err.contains("refused this client's certificate"), "{err}");

    // A certified client: served.
    let good = certs.issue(&clients_ca, "client", &["client.example"], false);
    let client =
        connect(&server.address, Some(trust().with_client_cert(&good.cert, &good.key).unwrap())).await.unwrap();
    let greeting: ValueProxy<String> = client.named_unchecked("greeting").await.unwrap();
    assert_eq!(greeting.get().await.unwrap(), "hello");
}

#[tokio::test]
async fn from_env_reads_the_tls_files_and_children_are_handed_them() {
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let clients_ca = certs.ca("clients");
    let server = tls_server(&cert, &["--tls-client-ca", arg(&clients_ca.pem)]);
    let client_cert = certs.issue(&clients_ca, "client", &["client.example"], false);

    // MANAGER_TLS_CA (and the client certificate) from the environment.
    let mut cmd = util::worker();
    cmd.args(["open-as", "value-string-unchecked", "greeting"])
        .env("MANAGER_ADDRESS", &server.address)
        .env("MANAGER_AUTHKEY", key().to_hex())
        .env("MANAGER_TLS_CA", &ca.pem)
        .env("MANAGER_TLS_CERT", &client_cert.cert)
        .env("MANAGER_TLS_KEY", &client_cert.key);
    assert_eq!(util::run_worker(cmd).trim(), "hello");

    // Without MANAGER_TLS_CA a tls:// address is refused, saying what to set.
    let mut cmd = util::worker();
    cmd.args(["open-as", "value-string-unchecked", "greeting"])
        .env("MANAGER_ADDRESS", &server.address)
        .env("MANAGER_AUTHKEY", key().to_hex())
        .env_remove("MANAGER_TLS_CA")
        .stderr(std::process::Stdio::piped());
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("MANAGER_TLS_CA"), "{stderr}");

    // A TLS client hands its files to a child along with the address and key.
    let tls = ClientTls::ca_file(&ca.pem).unwrap().with_client_cert(&client_cert.cert, &client_cert.key).unwrap();
    let parent = connect(&server.address, Some(tls)).await.unwrap();
    let mut cmd = util::worker();
    cmd.args(["open-as", "value-string-unchecked", "greeting"]);
    parent.configure_child(&mut cmd);
    let out = tokio::task::spawn_blocking(move || util::run_worker(cmd)).await.unwrap();
    assert_eq!(out.trim(), "hello");
}

#[test]
fn tls_flags_are_checked_by_name() {
    let certs = Certs::new();
    let (_, cert) = pki(&certs);
    let missing = certs.dir.path().join("missing.pem");
    let (c, k, m) = (arg(&cert.cert), arg(&cert.key), arg(&missing));
    let tls = "tls://127.0.0.1:0";
    let cases: &[(&[&str], &str)] = &[
        // Unreadable or not PEM of the right kind: refused naming the flag.
        (&["--listen", tls, "--tls-cert", m, "--tls-key", k], "--tls-cert"),
        (&["--listen", tls, "--tls-cert", k, "--tls-key", k], "--tls-cert"),
        (&["--listen", tls, "--tls-cert", c, "--tls-key", c], "--tls-key"),
        (&["--listen", tls, "--tls-cert", c, "--tls-key", k, "--tls-client-ca", k], "--tls-client-ca"),
        // One without the other, and TLS flags without a TLS listener and the reverse.
        (&["--listen", tls, "--tls-cert", c], "--tls-key"),
        (&["--listen", tls], "--tls-cert"),
        (&["--tls-cert", c, "--tls-key", k], "--listen tls://"),
    ];
    for (args, flag) in cases {
        let out = crate::flags::run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        // Never the key's text.
        let key_body = std::fs::read_to_string(&cert.key).unwrap();
        assert!(!stderr.contains(key_body.lines().nth(1).unwrap()), "{stderr}");
    }
}

#[tokio::test]
async fn a_tls_server_at_its_connection_limit_says_so_inside_tls() {
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let server = tls_server(&cert, &["--max-connections", "1"]);
    let trust = || Some(ClientTls::ca_file(&ca.pem).unwrap());
    let first = connect(&server.address, trust()).await.unwrap();
    let err = refused(connect(&server.address, trust()).await);
    assert!(err.contains("too many connections (limit 1)"), "{err}");
    first.ping().await.unwrap();
}

#[tokio::test]
async fn garbage_on_the_tls_port_is_refused_and_the_server_serves_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let server = tls_server(&cert, &["--handshake-timeout", "1"]);
    let hostport = server.address.strip_prefix("tls://").unwrap().to_owned();
    // A TLS record header announcing a handshake, then noise; a truncated ClientHello;
    // an HTTP request.
    let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let inputs: Vec<Vec<u8>> = vec![
        [&[0x16, 0x03, 0x01, 0x40, 0x00][..], &noise].concat(),
        vec![0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c, 0x03, 0x03],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    ];
    for input in inputs {
        let mut socket = tokio::net::TcpStream::connect(&hostport).await.unwrap();
        let _ = socket.write_all(&input).await;
        // The server answers (an alert, or a refusal) or closes; it never keeps a peer
        // that stops talking past its handshake deadline (1 s here).
        let mut sink = Vec::new();
        let read = tokio::time::timeout(HANG, socket.read_to_end(&mut sink)).await;
        assert!(read.is_ok(), "the server kept a garbage connection open");
    }
    let client = connect(&server.address, Some(ClientTls::ca_file(&ca.pem).unwrap())).await.unwrap();
    client.ping().await.unwrap();
    assert!(server.log().contains("TLS handshake refused"), "{}", server.log());
}
