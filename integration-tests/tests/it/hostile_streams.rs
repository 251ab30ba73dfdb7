//! Streams against a hostile peer, over a raw socket to a real `manager-server` process
//! (the hostile-input tests of `hostile.rs`, for streams): a peer that grants all the
//! credit there is and never reads, one that opens more streams than it may, one that
//! reopens a live stream's id, one that opens streams and never credits them. The
//! server's memory stays bounded, the refusals name the limit, and everything a
//! connection opened is gone when it ends.

use crate::raw::Raw;
use crate::server_bin::{HANG, ServerChild, bounded, key};
use crate::util::wait_until;
use manager_client::proto::{MethodRef, ObjectId, RemoteErrorKind, Request, Response, method_id, postcard};
use manager_client::{Client, ListProxy};

/// A raw, authenticated connection whose reads wait up to the hang bound.
fn raw_peer(server: &ServerChild) -> Raw {
    let raw = Raw::authenticated(&server.path, &key());
    raw.stream.set_read_timeout(Some(HANG)).unwrap();
    raw
}

/// A response, owned.
#[derive(Debug, PartialEq)]
enum Answer {
    Object(ObjectId),
    Items(u32, Vec<u8>),
    End,
    Error(RemoteErrorKind, String),
    Other(String),
}

fn next(raw: &mut Raw) -> (u64, Answer) {
    let payload = raw.recv_frame().expect("an answer within the hang bound");
    let (id, response) = Response::decode(&payload).unwrap();
    let answer = match response {
        Response::Object { id, .. } => Answer::Object(id),
        Response::Items { count, items } => Answer::Items(count, items.to_vec()),
        Response::End => Answer::End,
        Response::Error(e) => Answer::Error(e.kind, e.message),
        other => Answer::Other(format!("{other:?}")),
    };
    (id, answer)
}

/// The raw peer takes a reference to the list named `name`; its id.
fn get_named(raw: &mut Raw, name: &str) -> ObjectId {
    raw.send_request(1, Request::GetNamed { name });
    match next(raw) {
        (1, Answer::Object(id)) => id,
        other => panic!("looking up {name}: {other:?}"),
    }
}

fn open(raw: &mut Raw, id: u64, object: ObjectId, credit: u32) {
    let method = MethodRef::Id(method_id("iter"));
    raw.send_request(id, Request::Open { object, method, credit, args: &[] });
}

/// A list of `n` u64s (`0..n`) named `name`, made by a typed client.
async fn named_list(c: &Client, name: &str, n: u64, element: impl Fn(u64) -> String) -> ListProxy<String> {
    let l = c.list::<String>().await.unwrap();
    let all: Vec<String> = (0..n).map(element).collect();
    for chunk in all.chunks(50_000) {
        l.extend(chunk.to_vec()).await.unwrap();
    }
    c.bind_name(name, &l).await.unwrap();
    l
}

/// A peer that grants `u32::MAX` bytes of credit on a list of 64 MB of items and never
/// reads: the server makes batches only while its output for that connection is under
/// its high-water mark, so its memory grows by a few MiB, not by the list's size —
/// while a second client reads the whole list through the same server meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_the_credit_and_no_reading_keeps_the_server_bounded() {
    let server = ServerChild::start();
    let c = server.client().await;
    // 400k items of 160 bytes: 64 MB as a stream.
    let l = bounded("building the list", named_list(&c, "big", 400_000, |i| format!("{i:0>160}"))).await;
    let before = server.rss_kib();
    let mut raw = raw_peer(&server);
    let object = get_named(&mut raw, "big");
    open(&mut raw, 7, object, u32::MAX);
    raw.send_request(8, Request::Credit { target: 7, bytes: u32::MAX });
    // The server gets to the stream: it is open, and the peer's socket fills.
    wait_until("the stream is open", || async { c.stats().await.unwrap().streams == 1 }).await;
    // Meanwhile the server serves the whole list to a reader: it had the time and the
    // CPU to make the unread stream's batches too, had they not been held back.
    let read = bounded("reading the list", l.iter().collect_all()).await.unwrap();
    assert_eq!(read.len(), 400_000);
    let grown = server.rss_kib().saturating_sub(before);
    assert!(grown < 32 * 1024, "the server grew by {grown} KiB for a peer that reads nothing");
    assert_eq!(c.stats().await.unwrap().streams, 1, "the unread stream is still open");
    // What the peer reads is the list, in order, from its first item.
    let (id, answer) = next(&mut raw);
    assert_eq!(id, 7);
    let Answer::Items(count, bytes) = answer else { panic!("{answer:?}") };
    assert!(count > 0);
    let (first, _) = postcard::take_from_bytes::<manager_client::proto::Item>(&bytes).unwrap();
    assert_eq!(postcard::from_bytes::<String>(&first.bytes).unwrap(), format!("{:0>160}", 0));
    drop(raw);
    wait_until("the dropped peer's stream is closed", || async { c.stats().await.unwrap().streams == 0 }).await;
}

/// `max_in_flight` streams at most per connection: one more is refused with
/// `LimitExceeded`, and once one closes another opens. Reopening a live stream's id
/// restarts it (the old stream ends unannounced), and is no new stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_past_the_limit_are_refused_and_a_reused_id_restarts_its_stream() {
    let server = ServerChild::start_with(&["--max-in-flight", "4"]);
    let c = server.client().await;
    let _l = named_list(&c, "small", 10, |i| i.to_string()).await;
    let mut raw = raw_peer(&server);
    let object = get_named(&mut raw, "small");
    // Four streams and no credit: nothing comes back.
    for id in 10..14 {
        open(&mut raw, id, object, 0);
    }
    open(&mut raw, 14, object, 0);
    match next(&mut raw) {
        (14, Answer::Error(RemoteErrorKind::LimitExceeded, message)) => {
            assert!(message.contains("4 streams"), "{message}")
        }
        other => panic!("a fifth stream: {other:?}"),
    }
    assert_eq!(c.stats().await.unwrap().streams, 4);
    // A live id again: the same stream's place, from the first item; no refusal.
    open(&mut raw, 11, object, 1);
    assert_eq!(next(&mut raw), (11, Answer::Items(1, postcard::to_allocvec(&item("0")).unwrap())));
    assert_eq!(c.stats().await.unwrap().streams, 4);
    // One closed: another opens, and runs to its end with all the credit there is.
    raw.send_request(0, Request::Cancel { target: 10 });
    open(&mut raw, 15, object, u32::MAX);
    let (id, answer) = next(&mut raw);
    assert_eq!((id, matches!(answer, Answer::Items(10, _))), (15, true), "{answer:?}");
    assert_eq!(next(&mut raw), (15, Answer::End));
    // Credit past any counter, on a stream with some already: no overflow, no panic.
    for _ in 0..3 {
        raw.send_request(0, Request::Credit { target: 12, bytes: u32::MAX });
    }
    let (id, answer) = next(&mut raw);
    assert_eq!((id, matches!(answer, Answer::Items(10, _))), (12, true), "{answer:?}");
    assert_eq!(next(&mut raw), (12, Answer::End));
    // Streams opened and never credited: the connection's end closes them.
    drop(raw);
    wait_until("the peer's streams are closed", || async { c.stats().await.unwrap().streams == 0 }).await;
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// A list element as the wire carries it.
fn item(s: &str) -> manager_client::proto::Item {
    manager_client::proto::Item { bytes: postcard::to_allocvec(s).unwrap(), refs: Vec::new() }
}
