//! One request from a key holder must not hang, crash or bloat the server. Keeps fixed
//! the hostile-numbers issue, repro by repro, each against a real `manager-server`
//! process (a server that goes wrong is SIGKILLed, never waited for): a huge
//! `Semaphore.release(n)` (freeze, SIGTERM ignored), a `BoundedSemaphore` released past
//! its bound, a semaphore's value wrapping to 0, slices with huge steps (a panic in the
//! server), and a 12-byte `list.repeat` that allocated 1.5 GB. Where the issue gives
//! the request bytes, the test sends those bytes; each repro also has its typed-API
//! form. Throughout, a second client must be served: a fresh connect, handshake and
//! call answer within the hang bound.

use crate::raw::Raw;
use crate::server_bin::{HANG, KEY, ServerChild, bounded, eventually_blocking, key, within};
use manager_client::Error;
use manager_client::proto::{Item, ObjectId, RemoteError, RemoteErrorKind, Request, Response, method_id, postcard};
use std::path::Path;
use std::time::{Duration, Instant};

/// A response, owned.
#[derive(Debug)]
enum Answer {
    Object(ObjectId, String),
    Value(Vec<u8>),
    Error(RemoteError),
}

/// Hex, spaces ignored, as the issue writes frames.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

/// postcard's varint.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        if v < 0x80 {
            out.push(v as u8);
            return out;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
}

/// The payload of request `id`: a call of `method` (by id) on `object` with `args`, as
/// the issue spells it (`<id> 02 <object> 00 <method id, LE> <args>`).
fn call_frame(id: u64, object: ObjectId, method: &str, args: &[u8]) -> Vec<u8> {
    [varint(id), vec![0x02], varint(object.0), vec![0x00], method_id(method).to_le_bytes().to_vec(), args.to_vec()]
        .concat()
}

/// A raw, authenticated connection whose reads wait up to the hang bound.
fn raw_peer(path: &Path) -> Raw {
    let raw = Raw::authenticated(path, &key());
    raw.stream.set_read_timeout(Some(HANG)).unwrap();
    raw
}

/// The next response on `raw`, owned; panics naming `what` if none comes within the
/// hang bound or the server closes the connection.
fn answer(raw: &mut Raw, what: &str) -> (u64, Answer) {
    let start = Instant::now();
    let Some(payload) = raw.recv_frame() else {
        if start.elapsed() >= HANG - Duration::from_secs(1) {
            panic!("hung: no answer to {what} within {HANG:?}");
        }
        panic!("the server closed the connection instead of answering {what}");
    };
    let (id, response) = Response::decode(&payload).unwrap();
    let owned = match response {
        Response::Object { id, type_id, .. } => Answer::Object(id, type_id.to_owned()),
        Response::Value(bytes) => Answer::Value(bytes.to_vec()),
        Response::Error(e) => Answer::Error(e),
        other => panic!("an answer of an unexpected kind to {what}: {other:?}"),
    };
    (id, owned)
}

/// Sends request payload `frame` (whose id is `id`) and returns its answer.
fn ask(raw: &mut Raw, id: u64, frame: &[u8], what: &str) -> Answer {
    raw.send_frame(frame);
    let (got, answer) = answer(raw, what);
    assert_eq!(got, id, "the answer to {what} names its request");
    answer
}

/// Creates an object from the issue's create-request bytes; returns the id the server
/// gave it.
fn create(raw: &mut Raw, frame: &[u8], type_id: &str) -> ObjectId {
    match ask(raw, 1, frame, type_id) {
        Answer::Object(id, t) => {
            assert_eq!(t, type_id);
            id
        }
        other => panic!("creating a {type_id}: {other:?}"),
    }
}

fn u64_value(answer: Answer, what: &str) -> u64 {
    match answer {
        Answer::Value(bytes) => postcard::from_bytes(&bytes).unwrap(),
        other => panic!("{what}: {other:?}"),
    }
}

/// A second client, on a fresh connection: connects, authenticates and makes calls,
/// within the hang bound.
fn second_client_is_served(address: &str, when: &str) {
    let address = address.to_owned();
    let what = format!("a second client's connect, handshake and calls {when}");
    let label = what.clone();
    within(HANG, &what, move || -> Result<(), String> {
        let failed = |e: Error| format!("{label}: {e}");
        let client = manager_client::blocking::Client::connect(address.as_str(), KEY).map_err(failed)?;
        client.ping().map_err(failed)?;
        let d = client.dict::<u32, u32>().map_err(failed)?;
        d.insert(1, 2).map_err(failed)?;
        assert_eq!(d.get(&1).map_err(failed)?, Some(2));
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// [`second_client_is_served`] for async tests.
async fn second_client_is_served_async(server: &ServerChild, when: &str) {
    let address = server.address.clone();
    let when = when.to_owned();
    tokio::task::spawn_blocking(move || second_client_is_served(&address, &when)).await.unwrap();
}

fn remote_kind<T: std::fmt::Debug>(result: &Result<T, Error>) -> Option<RemoteErrorKind> {
    result.as_ref().err().and_then(Error::remote_kind)
}

/// The error kind a number leaving its type's range gets: Python's `OverflowError`.
fn is_overflow(kind: Option<RemoteErrorKind>) -> bool {
    kind == Some(RemoteErrorKind::Overflow)
}

// ---------------------------------------------------------------------------------------
// 1. Semaphore.release(2^40)

/// `semaphore(0)`, as the issue sends it (plus the empty fingerprint `Create` has
/// carried since).
const CREATE_SEMAPHORE_0: &str = "01 01 09 73656d6170686f7265 00 00";
/// `release(2^40)` on object 0x0f, as the issue sends it.
const RELEASE_2_40_ON_0F: &str = "02 02 0f 00 7eae3610 808080808020";

#[test]
fn the_issue_frames_are_what_these_tests_send() {
    let args = varint(1 << 40);
    assert_eq!(call_frame(2, ObjectId(0x0f), "release", &args), hex(RELEASE_2_40_ON_0F));
    assert_eq!(call_frame(2, ObjectId(1), "repeat", &varint(1 << 24)), hex("02 02 01 00 2aa89bd9 80808008"));
    let mut create = Vec::new();
    Request::Create { type_id: "semaphore", fingerprint: "", args: &[0] }.encode(1, &mut create);
    assert_eq!(create, hex(CREATE_SEMAPHORE_0));
}

#[test]
fn a_huge_semaphore_release_answers_at_once_and_the_permits_are_there() {
    let server = ServerChild::start();
    let mut raw = raw_peer(&server.path);
    let sem = create(&mut raw, &hex(CREATE_SEMAPHORE_0), "semaphore");
    raw.send_frame(&call_frame(2, sem, "release", &varint(1 << 40)));
    // While the release is in flight (or just answered), everyone else is served.
    second_client_is_served(&server.address, "while a release(2^40) is in flight");
    match answer(&mut raw, "release(2^40)") {
        (2, Answer::Value(bytes)) => assert!(bytes.is_empty(), "release returns None: {bytes:?}"),
        other => panic!("release(2^40): {other:?}"),
    }
    let value = u64_value(ask(&mut raw, 3, &call_frame(3, sem, "value", &[]), "value()"), "value()");
    assert_eq!(value, 1 << 40);
    second_client_is_served(&server.address, "after a release(2^40)");
}

#[test]
fn sigterm_stops_the_server_after_a_huge_semaphore_release() {
    let mut server = ServerChild::start();
    let mut raw = raw_peer(&server.path);
    let sem = create(&mut raw, &hex(CREATE_SEMAPHORE_0), "semaphore");
    raw.send_frame(&call_frame(2, sem, "release", &varint(1 << 40)));
    // The server installs its SIGTERM handler just after printing its address; a
    // signal before that would kill it by the default action, whatever its state.
    assert!(
        eventually_blocking(HANG, || server.catches(libc::SIGTERM)),
        "the server never installed a SIGTERM handler"
    );
    // The default shutdown grace is 5 s; 15 s is a hang detector.
    let status = server.terminate_within(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM did not stop the server within 15 s after a release(2^40) ({status:?}); its log:\n{}",
        server.log()
    );
    // The release was answered before the shutdown, refused by it, or the connection
    // closed: anything but a hang.
    if let Some(payload) = raw.recv_frame() {
        let (_, response) = Response::decode(&payload).unwrap();
        match response {
            Response::Value(_) => {}
            Response::Error(e) => assert_eq!(e.kind, RemoteErrorKind::ShuttingDown, "{e:?}"),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_release_through_the_typed_api_adds_the_permits_and_wakes_a_waiter() {
    let server = ServerChild::start();
    let client = server.client().await;
    let sem = client.semaphore(0).await.unwrap();
    bounded("release_n(2^40)", sem.release_n(1 << 40)).await.unwrap();
    assert_eq!(bounded("value()", sem.value()).await.unwrap(), 1 << 40);
    assert!(bounded("try_acquire()", sem.try_acquire()).await.unwrap());
    assert_eq!(bounded("value()", sem.value()).await.unwrap(), (1 << 40) - 1);
    second_client_is_served_async(&server, "after release_n(2^40)").await;

    // A waiter gets one of the permits, the pool the rest (as Python's release(n)).
    let sem = client.semaphore(0).await.unwrap();
    let other = server.client().await;
    let theirs: manager_client::SemaphoreProxy = other.attach(&sem.token()).await.unwrap();
    let waiter = tokio::spawn(async move { theirs.acquire().await });
    assert!(
        crate::util::eventually(HANG, async || client.stats().await.unwrap().parked_calls == 1).await,
        "the acquire is parked"
    );
    bounded("release_n(2^40) with a waiter", sem.release_n(1 << 40)).await.unwrap();
    assert!(bounded("the waiter's acquire", waiter).await.unwrap().unwrap());
    assert_eq!(bounded("value()", sem.value()).await.unwrap(), (1 << 40) - 1);
}

// ---------------------------------------------------------------------------------------
// 2. A bounded semaphore released past its bound

#[test]
fn a_bounded_semaphore_refuses_release_of_u64_max_and_keeps_its_value() {
    let server = ServerChild::start();
    let mut raw = raw_peer(&server.path);
    let mut create_frame = Vec::new();
    Request::Create { type_id: "bounded_semaphore", fingerprint: "", args: &varint(2) }.encode(1, &mut create_frame);
    let sem = create(&mut raw, &create_frame, "bounded_semaphore");
    raw.send_frame(&call_frame(2, sem, "release", &varint(u64::MAX)));
    second_client_is_served(&server.address, "while a release(u64::MAX) is in flight");
    match answer(&mut raw, "release(u64::MAX) on bounded_semaphore(2)") {
        (2, Answer::Error(e)) => {
            assert_eq!(e.kind, RemoteErrorKind::InvalidValue, "{e:?}");
            assert!(e.message.contains("released too many times"), "{e:?}");
        }
        other => panic!("release(u64::MAX) on bounded_semaphore(2): {other:?}"),
    }
    let value = u64_value(ask(&mut raw, 3, &call_frame(3, sem, "value", &[]), "value()"), "value()");
    assert_eq!(value, 2, "unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_semaphore_is_never_released_past_its_bound_through_the_typed_api() {
    let server = ServerChild::start();
    let client = server.client().await;
    let sem = client.bounded_semaphore(2).await.unwrap();
    for n in [u64::MAX, u64::MAX - 1, u64::MAX - 2, 1 << 63, 1] {
        let r = bounded("release_n past the bound", sem.release_n(n)).await;
        assert_eq!(remote_kind(&r), Some(RemoteErrorKind::InvalidValue), "release_n({n}) at the bound: {r:?}");
        assert_eq!(bounded("value()", sem.value()).await.unwrap(), 2, "release_n({n}) changed nothing");
    }
    assert!(bounded("try_acquire()", sem.try_acquire()).await.unwrap());
    let r = bounded("release_n(2) one below the bound", sem.release_n(2)).await;
    assert_eq!(remote_kind(&r), Some(RemoteErrorKind::InvalidValue), "{r:?}");
    bounded("release_n(1) back to the bound", sem.release_n(1)).await.unwrap();
    assert_eq!(bounded("value()", sem.value()).await.unwrap(), 2);

    // A bound at the top of the range: past it is "too many", not a wrap.
    let top = client.bounded_semaphore(u64::MAX).await.unwrap();
    let r = bounded("release_n(1) on bounded_semaphore(u64::MAX)", top.release_n(1)).await;
    assert_eq!(remote_kind(&r), Some(RemoteErrorKind::InvalidValue), "{r:?}");
    assert_eq!(bounded("value()", top.value()).await.unwrap(), u64::MAX);
    second_client_is_served_async(&server, "after releases past the bound").await;
}

// ---------------------------------------------------------------------------------------
// 3. A semaphore's value wraps to 0

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semaphore_at_the_top_of_its_range_refuses_to_wrap() {
    let server = ServerChild::start();
    let client = server.client().await;
    let sem = client.semaphore(u64::MAX).await.unwrap();
    let r = bounded("release_n(1) on semaphore(u64::MAX)", sem.release_n(1)).await;
    assert!(is_overflow(remote_kind(&r)), "an overflow error, not a wrap: {r:?}");
    assert_eq!(bounded("value()", sem.value()).await.unwrap(), u64::MAX, "unchanged");

    let sem = client.semaphore(1).await.unwrap();
    let r = bounded("release_n(u64::MAX) on semaphore(1)", sem.release_n(u64::MAX)).await;
    assert!(is_overflow(remote_kind(&r)), "{r:?}");
    assert_eq!(bounded("value()", sem.value()).await.unwrap(), 1, "unchanged");

    // Up to the top is fine.
    let sem = client.semaphore(u64::MAX - 1).await.unwrap();
    bounded("release_n(1) to u64::MAX", sem.release_n(1)).await.unwrap();
    assert_eq!(bounded("value()", sem.value()).await.unwrap(), u64::MAX);

    // Permits handed to a waiter never reach the pool: release(u64::MAX) with one
    // waiter leaves u64::MAX - 1, which fits.
    let sem = client.semaphore(0).await.unwrap();
    let other = server.client().await;
    let theirs: manager_client::SemaphoreProxy = other.attach(&sem.token()).await.unwrap();
    let waiter = tokio::spawn(async move { theirs.acquire().await });
    assert!(
        crate::util::eventually(HANG, async || client.stats().await.unwrap().parked_calls == 1).await,
        "the acquire is parked"
    );
    bounded("release_n(u64::MAX) with a waiter", sem.release_n(u64::MAX)).await.unwrap();
    assert!(bounded("the waiter's acquire", waiter).await.unwrap().unwrap());
    assert_eq!(bounded("value()", sem.value()).await.unwrap(), u64::MAX - 1);
    second_client_is_served_async(&server, "after releases at the top of the range").await;
}

// ---------------------------------------------------------------------------------------
// 4. Slices with huge steps

const MAX: i64 = i64::MAX;
const MIN: i64 = i64::MIN;

/// `(start, stop, step)`, what `[1, 2][start:stop:step]` is and what `del` of it leaves,
/// checked against CPython (`sys.maxsize` is `i64::MAX`).
type SliceCase = ((Option<i64>, Option<i64>, Option<i64>), &'static [u32], &'static [u32]);
const HUGE_STEPS: &[SliceCase] = &[
    ((Some(1), None, Some(MAX)), &[2], &[1]),
    ((None, None, Some(MIN)), &[2], &[1]),
    ((Some(0), None, Some(MAX)), &[1], &[2]),
    ((Some(-1), None, Some(MIN)), &[2], &[1]),
    ((Some(MIN), Some(MAX), Some(MAX)), &[1], &[2]),
    ((Some(MAX), Some(MIN), Some(MIN)), &[2], &[1]),
    ((None, None, Some(-MAX)), &[2], &[1]),
    ((None, None, Some(MAX)), &[1], &[2]),
    ((Some(MAX), None, Some(MIN)), &[2], &[1]),
    ((Some(MIN), None, Some(MAX)), &[1], &[2]),
    ((None, Some(MAX), Some(MIN)), &[], &[1, 2]),
    ((None, Some(MIN), Some(MAX)), &[], &[1, 2]),
    ((Some(1), Some(MAX), Some(MAX - 1)), &[2], &[1]),
    ((Some(-1), Some(MIN), Some(MIN + 1)), &[2], &[1]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_slice_steps_select_what_python_selects_and_never_panic() {
    let server = ServerChild::start();
    let client = server.client().await;
    for &((start, stop, step), selected, left) in HUGE_STEPS {
        let case = format!("[1, 2][{start:?}:{stop:?}:{step:?}]");
        let list = client.list_from(&[1u32, 2]).await.unwrap();
        let got = bounded(&case, list.slice(start, stop, step)).await;
        assert_eq!(got.as_deref().ok(), Some(selected), "list {case}: {got:?}");
        let r = bounded(&case, list.delete_slice(start, stop, step)).await;
        assert!(r.is_ok(), "del list{case}: {r:?}");
        assert_eq!(list.snapshot().await.unwrap(), left, "del list{case}");

        let array = client.array(&[1u32, 2]).await.unwrap();
        let got = bounded(&case, array.slice(start, stop, step)).await;
        assert_eq!(got.as_deref().ok(), Some(selected), "array {case}: {got:?}");
        // Assigning the selection its own length of new values replaces exactly it.
        let new: Vec<u32> = selected.iter().map(|v| v + 10).collect();
        let r = bounded(&case, array.set_slice(start, stop, step, new)).await;
        assert!(r.is_ok(), "array{case} = ...: {r:?}");
        let expected: Vec<u32> = [1u32, 2].iter().map(|v| if selected.contains(v) { v + 10 } else { *v }).collect();
        assert_eq!(array.snapshot().await.unwrap(), expected, "array{case} = ...");
        // The wrong length is a clear error, not a panic.
        let r = bounded(&case, array.set_slice(start, stop, step, vec![7; selected.len() + 1])).await;
        assert_eq!(remote_kind(&r), Some(RemoteErrorKind::InvalidValue), "array{case} = too many: {r:?}");
    }
    second_client_is_served_async(&server, "after huge slice steps").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_slice_is_answered_with_the_second_element() {
    let server = ServerChild::start();
    let client = server.client().await;
    let list = client.list_from(&["a".to_string(), "b".to_string()]).await.unwrap();
    let got = bounded("list.slice(1, None, i64::MAX)", list.slice(Some(1), None, Some(i64::MAX))).await;
    assert!(remote_kind(&got) != Some(RemoteErrorKind::Panicked), "the server panicked: {got:?}");
    assert_eq!(got.unwrap(), ["b"]);
    assert_eq!(list.len().await.unwrap(), 2, "the list is still there and whole");
    second_client_is_served_async(&server, "after list.slice(1, None, i64::MAX)").await;
}

// ---------------------------------------------------------------------------------------
// 5. A 12-byte request that allocates 1.5 GB

/// The most the server's resident memory may grow across a refused repeat (KiB): room
/// for allocator noise, far below the 1.5 GB the repeat used to take.
const RSS_SLACK_KIB: u64 = 8 * 1024;

#[test]
fn a_twelve_byte_repeat_is_refused_without_allocating() {
    let server = ServerChild::start();
    let mut raw = raw_peer(&server.path);
    let args = postcard::to_allocvec(&(vec![Item::plain(vec![7])],)).unwrap();
    let mut create_frame = Vec::new();
    Request::Create { type_id: "list", fingerprint: "", args: &args }.encode(1, &mut create_frame);
    let list = create(&mut raw, &create_frame, "list");
    let before = server.rss_kib();
    // `02 02 01 00 2aa89bd9 80808008` with the id the server gave the list.
    let frame = call_frame(2, list, "repeat", &varint(1 << 24));
    assert_eq!(frame.len(), 8 + varint(list.0).len() + 3, "a dozen bytes or so");
    raw.send_frame(&frame);
    second_client_is_served(&server.address, "while list.repeat(2^24) is in flight");
    let reply = answer(&mut raw, "list.repeat(2^24)");
    let after = server.rss_kib();
    match reply {
        (2, Answer::Error(e)) => {
            assert_eq!(e.kind, RemoteErrorKind::LimitExceeded, "{e:?}");
            assert!(e.message.contains("repeat"), "the error names the method: {e:?}");
        }
        other => panic!(
            "list.repeat(2^24) on a one-element list: {other:?}; the server's RSS went from {before} KiB to {after} KiB"
        ),
    }
    assert!(
        after < before + RSS_SLACK_KIB,
        "the server's RSS went from {before} KiB to {after} KiB for a refused repeat"
    );
    let len = u64_value(ask(&mut raw, 3, &call_frame(3, list, "len", &[]), "len()"), "len()");
    assert_eq!(len, 1, "the list is unchanged");
    drop(raw);
    second_client_is_served(&server.address, "after list.repeat(2^24)");
    let closed = server.rss_kib();
    assert!(closed < before + RSS_SLACK_KIB, "{closed} KiB after the connection closed, {before} KiB before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_repeats_through_the_typed_api_are_refused_and_small_ones_work() {
    let server = ServerChild::start();
    let client = server.client().await;
    let list = client.list_from(&[1u8]).await.unwrap();
    let before = server.rss_kib();
    for n in [1u64 << 24, 1 << 40, u64::MAX] {
        let r = bounded("list.repeat", list.repeat(n)).await;
        assert_eq!(remote_kind(&r), Some(RemoteErrorKind::LimitExceeded), "repeat({n}): {r:?}");
        assert_eq!(list.len().await.unwrap(), 1, "repeat({n}) changed nothing");
    }
    let after = server.rss_kib();
    assert!(after < before + RSS_SLACK_KIB, "RSS {before} KiB -> {after} KiB for refused repeats");
    bounded("list.repeat(3)", list.repeat(3)).await.unwrap();
    assert_eq!(list.snapshot().await.unwrap(), [1, 1, 1]);
    bounded("list.repeat(0)", list.repeat(0)).await.unwrap();
    assert!(list.is_empty().await.unwrap());
    // An empty list repeated a huge number of times: empty (or, as Python says for a
    // count past isize::MAX, an error), at once either way.
    let r = bounded("[] * u64::MAX", list.repeat(u64::MAX)).await;
    assert!(
        r.is_ok()
            || [RemoteErrorKind::LimitExceeded, RemoteErrorKind::InvalidValue]
                .contains(&r.as_ref().unwrap_err().remote_kind().unwrap())
            || is_overflow(remote_kind(&r)),
        "[] * u64::MAX: {r:?}"
    );
    assert!(list.is_empty().await.unwrap());
    second_client_is_served_async(&server, "after huge repeats").await;
}
