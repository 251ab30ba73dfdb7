//! The `iter` rows: a large list read as a live stream (`ListProxy::iter`) against the
//! same list copied in one call (`snapshot`), and how long the stream takes to its first
//! item, counted in round trips of one call.

use manager_client::blocking::ListProxy as BlockingListProxy;
use std::time::Instant;

/// Elements per `extend` while the list is built: one request each, well within what
/// one request may store.
const CHUNK: usize = 50_000;

/// A list of `n` u64s (`0..n`), built in chunks.
pub fn list_of(client: &manager_client::blocking::Client, n: usize) -> BlockingListProxy<u64> {
    let list = client.list::<u64>().expect("list");
    let all: Vec<u64> = (0..n as u64).collect();
    for chunk in all.chunks(CHUNK) {
        list.extend(chunk.to_vec()).expect("extend");
    }
    list
}

/// Items per second read through `iter()`, every item checked.
pub fn iterate(list: &BlockingListProxy<u64>, n: usize) -> f64 {
    let start = Instant::now();
    let mut seen = 0u64;
    for item in list.iter() {
        assert_eq!(item.expect("item"), seen);
        seen += 1;
    }
    let elapsed = start.elapsed();
    assert_eq!(seen as usize, n, "the iteration read every item");
    n as f64 / elapsed.as_secs_f64()
}

/// Items per second copied by `snapshot()`, every item checked.
pub fn snapshot(list: &BlockingListProxy<u64>, n: usize) -> f64 {
    let start = Instant::now();
    let items = list.snapshot().expect("snapshot");
    let elapsed = start.elapsed();
    assert_eq!(items.len(), n);
    assert!(items.iter().enumerate().all(|(i, x)| *x == i as u64));
    n as f64 / elapsed.as_secs_f64()
}

/// The time to the first item of a fresh `iter()` on an idle connection, in µs,
/// averaged over `reps` openings. Each stream is dropped after its first item, which
/// closes it; what the server had sent of it by then (up to the client's credit
/// window) is read before the next opening by an untimed call, so that each opening
/// starts on an idle connection as a user's first iteration does.
pub fn first_item(list: &BlockingListProxy<u64>, reps: usize) -> f64 {
    let mut total = std::time::Duration::ZERO;
    for _ in 0..reps {
        assert!(list.len().expect("len") > 0);
        let start = Instant::now();
        let mut iter = list.iter();
        assert_eq!(iter.next().expect("an item").expect("item"), 0);
        total += start.elapsed();
    }
    total.as_secs_f64() * 1e6 / reps as f64
}

/// One call's round trip (`len()`), in µs, averaged over `reps` calls.
pub fn one_call(list: &BlockingListProxy<u64>, reps: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..reps {
        assert!(list.len().expect("len") > 0);
    }
    start.elapsed().as_secs_f64() * 1e6 / reps as f64
}
