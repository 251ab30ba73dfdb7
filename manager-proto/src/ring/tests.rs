//! The rings' tests: the layout and header checks, one ring driven step by step, a
//! hostile peer's scribbles, and two threads — a producer and a consumer — over a heap
//! segment, with and without the wake-up protocol's bells. Run under Miri too
//! (`cargo +nightly miri test -p manager-proto --lib ring::`): sizes shrink there.

use super::*;
use crate::fuzzing;
use proptest::prelude::*;
use std::sync::mpsc;
use std::time::Duration;

/// Bytes the two-thread tests carry: enough for hundreds of wrap-arounds of a 4 KiB ring
/// natively, and enough for a few under Miri, which interprets every step.
const STREAM_LEN: usize = if cfg!(miri) { 16 << 10 } else { 1 << 20 };

fn bad_segment(r: Result<impl std::fmt::Debug, RingError>) -> String {
    match r {
        Err(RingError::BadSegment(msg)) => msg,
        other => panic!("expected BadSegment, got {other:?}"),
    }
}

fn corrupt<T: std::fmt::Debug>(r: Result<T, RingError>) -> &'static str {
    match r {
        Err(RingError::Corrupt(what)) => what,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A small deterministic generator (xorshift): the tests' sizes, without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The byte at stream index `i`.
fn numbered(i: usize) -> u8 {
    (i ^ (i >> 8) ^ (i >> 16)) as u8
}

/// The ends move between threads (their users serialize them behind a mutex).
#[test]
fn the_ends_are_send() {
    fn send<T: Send>() {}
    send::<Ends>();
    send::<Producer>();
    send::<Consumer>();
}

#[test]
fn layouts_are_powers_of_two_within_bounds() {
    let layout = Layout::new(4096).unwrap();
    assert_eq!(layout.capacity(), 4096);
    assert_eq!(layout.segment_len(), 4096 + 2 * (4096 + 4096));
    assert_eq!(Layout::new(MAX_CAPACITY).unwrap().segment_len(), 3 * HEADER_LEN + 2 * MAX_CAPACITY);
    for bad in [0, 2048, 4095, 6000, MAX_CAPACITY + 4096, 2 * MAX_CAPACITY, usize::MAX] {
        let msg = bad_segment(Layout::new(bad));
        assert!(msg.contains(&format!("rings of {bad} bytes")) && msg.contains("power of two"), "{msg}");
    }
}

#[test]
fn a_good_segment_opens_on_both_sides_and_carries_both_ways() {
    let layout = Layout::new(4096).unwrap();
    let mut segment = HeapSegment::zeroed(layout.segment_len());
    segment.init(layout).unwrap();
    let (mut client, mut server) = segment.ends().unwrap();
    let mut buf = Vec::new();
    assert_eq!(client.tx.write(b"to the server").unwrap(), 13);
    assert_eq!(server.rx.read_into(&mut buf, 100).unwrap(), 13);
    assert_eq!(server.tx.write(b"to the client").unwrap(), 13);
    assert_eq!(client.rx.read_into(&mut buf, 100).unwrap(), 13);
    assert_eq!(buf, b"to the serverto the client");
    // The two rings are apart: nothing crossed over.
    assert_eq!(client.rx.available().unwrap() + server.rx.available().unwrap(), 0);
}

#[test]
fn init_refuses_a_mapping_of_the_wrong_length() {
    let layout = Layout::new(4096).unwrap();
    let mut segment = HeapSegment::zeroed(layout.segment_len() + 4096);
    let msg = bad_segment(segment.init(layout));
    assert!(msg.contains("24576 bytes") && msg.contains("need 20480"), "{msg}");
}

#[test]
fn new_refuses_bad_headers_saying_what_is_wrong() {
    let layout = Layout::new(8192).unwrap();
    let len = layout.segment_len();
    let forged = |magic: &[u8; 8], capacity: u64, len: usize| {
        let mut segment = HeapSegment::zeroed(len);
        segment.write_at(0, magic);
        segment.write_at(8, &capacity.to_le_bytes());
        segment.ends()
    };
    let msg = bad_segment(forged(b"MGRRING9", 8192, len));
    assert!(msg.contains(r#"starts with "MGRRING9", not "MGRRING1""#), "{msg}");
    let msg = bad_segment(forged(&[0; 8], 0, len));
    assert!(msg.contains(r#"starts with "\x00\x00"#), "{msg}");
    for capacity in [0, 5000, 2048, 1 << 40, u64::MAX] {
        let msg = bad_segment(forged(&MAGIC, capacity, len));
        assert!(msg.contains(&format!("rings of {capacity} bytes, not a power of two")), "{msg}");
    }
    let msg = bad_segment(forged(&MAGIC, 8192, len + 4096));
    assert!(
        msg.contains(&format!("a segment of {} bytes", len + 4096)) && msg.contains(&format!("need {len}")),
        "{msg}"
    );
    let msg = bad_segment(forged(&MAGIC, 4096, len));
    assert!(msg.contains("rings of 4096 bytes need 20480"), "{msg}");
    let msg = bad_segment(HeapSegment::zeroed(100).ends());
    assert!(msg.contains("100 bytes is shorter than its header"), "{msg}");
}

#[test]
fn mappings_must_be_page_aligned_and_hold_a_header() {
    let msg = bad_segment(check_mapping(std::ptr::without_provenance_mut(4096 + 64), 1 << 20));
    assert!(msg.contains("0x1040 is not page-aligned"), "{msg}");
    let msg = bad_segment(check_mapping(std::ptr::null_mut(), 1 << 20));
    assert!(msg.contains("not page-aligned"), "{msg}");
    assert!(check_mapping(std::ptr::without_provenance_mut(8192), 4096).is_ok());
}

#[test]
fn writes_and_reads_round_trip_across_the_wrap_around() {
    let mut bed = Testbed::new(Layout::new(4096).unwrap());
    let mut buf = Vec::new();
    let mut at = 0;
    for round in 0..5 {
        let chunk: Vec<u8> = (at..at + 3000).map(numbered).collect();
        assert_eq!(bed.write(&chunk).unwrap(), 3000, "round {round}");
        assert_eq!(bed.available().unwrap(), 3000);
        // Read in two pieces: `max` is respected, and reads append.
        assert_eq!(bed.read_into(&mut buf, 1000).unwrap(), 1000);
        assert_eq!(bed.read_into(&mut buf, 5000).unwrap(), 2000);
        assert_eq!(buf[buf.len() - 3000..], chunk[..]);
        at += 3000;
    }
    assert_eq!(buf, (0..at).map(numbered).collect::<Vec<_>>());
    assert_eq!(bed.read_into(&mut buf, 10).unwrap(), 0, "empty");
}

#[test]
fn a_full_ring_takes_nothing_until_read() {
    let mut bed = Testbed::new(Layout::new(4096).unwrap());
    assert_eq!(bed.write(&[1; 5000]).unwrap(), 4096, "only what fits");
    assert_eq!(bed.space().unwrap(), 0);
    assert_eq!(bed.write(&[2; 10]).unwrap(), 0, "full");
    let mut buf = Vec::new();
    assert_eq!(bed.read_into(&mut buf, 100).unwrap(), 100);
    assert_eq!(bed.space().unwrap(), 100);
    assert_eq!(bed.write(&[3; 200]).unwrap(), 100);
    assert_eq!(bed.write(&[]).unwrap(), 0);
}

#[test]
fn a_reader_sleeps_only_on_an_empty_ring_and_is_woken_once() {
    let mut bed = Testbed::new(Layout::new(4096).unwrap());
    assert!(!bed.take_reader_waiting(), "nobody waits yet");
    assert!(bed.reader_prepare_wait().unwrap(), "empty: sleep");
    assert_eq!(bed.peek(Word::ReaderWaiting), 1);
    bed.write(b"x").unwrap();
    assert!(bed.take_reader_waiting(), "the writer sees the sleeper");
    assert!(!bed.take_reader_waiting(), "and rings once");
    assert!(!bed.reader_prepare_wait().unwrap(), "data: do not sleep");
    assert_eq!(bed.peek(Word::ReaderWaiting), 0, "the mark withdrawn");
    bed.read_into(&mut Vec::new(), 1).unwrap();
    assert!(bed.reader_prepare_wait().unwrap());
    bed.stop_waiting();
    assert!(!bed.take_reader_waiting(), "withdrawn: no bell");
}

#[test]
fn a_writer_sleeps_only_on_a_full_ring_and_is_woken_once() {
    let mut bed = Testbed::new(Layout::new(4096).unwrap());
    assert!(!bed.writer_prepare_wait().unwrap(), "room: do not sleep");
    assert_eq!(bed.peek(Word::WriterWaiting), 0);
    bed.write(&[0; 4096]).unwrap();
    assert!(bed.writer_prepare_wait().unwrap(), "full: sleep");
    assert_eq!(bed.peek(Word::WriterWaiting), 1);
    bed.read_into(&mut Vec::new(), 1).unwrap();
    assert!(bed.take_writer_waiting(), "the reader sees the sleeper");
    assert!(!bed.take_writer_waiting(), "and rings once");
}

#[test]
fn a_hostile_peer_gets_corrupt_never_a_panic_or_an_overrun() {
    let mut bed = Testbed::new(Layout::new(4096).unwrap());
    let mut buf = Vec::new();
    bed.write(&[7; 100]).unwrap();
    bed.read_into(&mut buf, 40).unwrap();
    // The writer's index: backwards, or more than a capacity ahead of the reader's.
    for tail in [99, 0, 40 + 4097, u64::MAX, 1 << 63] {
        bed.scribble(Word::Tail, tail);
        assert!(corrupt(bed.available()).contains("writer's index"), "tail {tail}");
        assert!(corrupt(bed.read_into(&mut buf, 10)).contains("writer's index"));
        assert_eq!(buf.len(), 40, "nothing read from a corrupt ring");
    }
    // Exactly a capacity ahead is a full ring, not corruption: the bytes are just bytes.
    bed.scribble(Word::Tail, 40 + 4096);
    assert_eq!(bed.read_into(&mut buf, usize::MAX).unwrap(), 4096);
    assert_eq!(buf.len(), 40 + 4096);
    // The reader's index: backwards, or past what was written.
    let mut bed = Testbed::new(Layout::new(4096).unwrap());
    bed.write(&[7; 100]).unwrap();
    bed.read_into(&mut buf, 40).unwrap();
    assert_eq!(bed.space().unwrap(), 4096 - 60, "the writer saw the head at 40");
    for head in [39, 0, 101, u64::MAX] {
        bed.scribble(Word::Head, head);
        assert!(corrupt(bed.space()).contains("reader's index"), "head {head}");
        // A write that fits in the room already known does not look (one cache miss
        // less per message); one that needs more does, and finds the corruption.
        assert!(corrupt(bed.write(&[0; 4096])).contains("reader's index"));
        assert!(corrupt(bed.writer_prepare_wait()).contains("reader's index"));
        assert_eq!(bed.peek(Word::WriterWaiting), 0, "the mark withdrawn on corruption");
    }
    // Marks are just flags: any value wakes once, and is taken.
    bed.scribble(Word::ReaderWaiting, 0xdead_beef);
    assert!(bed.take_reader_waiting());
    assert_eq!(bed.peek(Word::ReaderWaiting), 0);
}

#[test]
fn scribbled_data_reads_as_bytes_within_bounds() {
    let mut bed = Testbed::new(Layout::new(4096).unwrap());
    bed.write(&[1; 4000]).unwrap();
    bed.scribble_data(4000, &[9; 200]);
    let mut buf = Vec::new();
    assert_eq!(bed.read_into(&mut buf, usize::MAX).unwrap(), 4000);
    assert_eq!(buf.iter().filter(|&&b| b == 9).count(), 104, "the scribble wrapped onto bytes written");
}

/// One thread writes `STREAM_LEN` numbered bytes in random-sized writes through a 4 KiB
/// ring, another reads them in random-sized reads: every byte arrives once, in order.
#[test]
fn two_threads_carry_a_stream_exactly_once_in_order() {
    let layout = Layout::new(4096).unwrap();
    let mut segment = HeapSegment::zeroed(layout.segment_len());
    segment.init(layout).unwrap();
    let (client, server) = segment.ends().unwrap();
    let (mut tx, mut rx) = (client.tx, server.rx);
    let stream: Vec<u8> = (0..STREAM_LEN).map(numbered).collect();
    let sent = stream.clone();
    let writer = std::thread::spawn(move || {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut at = 0;
        while at < STREAM_LEN {
            let want = (1 + rng.below(6000)).min(STREAM_LEN - at);
            match tx.write(&sent[at..at + want]).unwrap() {
                0 => std::thread::yield_now(),
                n => at += n,
            }
        }
    });
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut got = Vec::with_capacity(STREAM_LEN);
    while got.len() < STREAM_LEN {
        if rx.read_into(&mut got, 1 + rng.below(5000)).unwrap() == 0 {
            std::thread::yield_now();
        }
    }
    writer.join().unwrap();
    // One comparison (a `memcmp`), not one per byte: Miri runs this too.
    assert!(got == stream, "a byte lost, doubled or out of order");
    assert_eq!(rx.available().unwrap(), 0);
}

/// The wake-up protocol, with channels as the eventfd bells: each side sleeps only after
/// `prepare_wait` said so, and is woken only when the other took its mark. A lost
/// wake-up would leave a side asleep for good; the deadline turns that into a failure.
#[test]
fn no_wake_up_is_lost_over_many_sleeps() {
    const MESSAGES: usize = if cfg!(miri) { 100 } else { 20_000 };
    const LOST: Duration = Duration::from_secs(60);
    let layout = Layout::new(4096).unwrap();
    let mut segment = HeapSegment::zeroed(layout.segment_len());
    segment.init(layout).unwrap();
    let (client, server) = segment.ends().unwrap();
    let (mut tx, mut rx) = (client.tx, server.rx);
    let (data_bell, data_sleep) = mpsc::channel::<()>();
    let (space_bell, space_sleep) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let mut rng = Rng(7);
        for m in 0..MESSAGES {
            // Messages of 1..=1500 bytes, each its number's byte repeated: a full ring
            // every few, an empty one whenever the reader catches up.
            let msg = vec![m as u8; 1 + rng.below(1500)];
            let mut sent = 0;
            while sent < msg.len() {
                let n = tx.write(&msg[sent..]).unwrap();
                sent += n;
                if n > 0 && tx.take_reader_waiting() {
                    data_bell.send(()).unwrap();
                }
                if n == 0 && tx.prepare_wait().unwrap() {
                    space_sleep.recv_timeout(LOST).expect("the writer's wake-up was lost");
                }
            }
        }
    });
    let mut rng = Rng(7);
    let mut buf = Vec::new();
    for m in 0..MESSAGES {
        let len = 1 + rng.below(1500);
        buf.clear();
        while buf.len() < len {
            let want = len - buf.len();
            let n = rx.read_into(&mut buf, want).unwrap();
            if n > 0 && rx.take_writer_waiting() {
                space_bell.send(()).unwrap();
            }
            if n == 0 && rx.prepare_wait().unwrap() {
                data_sleep.recv_timeout(LOST).expect("the reader's wake-up was lost");
            }
        }
        assert!(buf == vec![m as u8; len], "message {m} garbled");
    }
    writer.join().unwrap();
}

/// The fuzz target's script on random inputs (see `fuzzing::ring` for its checks).
#[test]
fn random_scripts_with_a_hostile_peer_keep_the_rings_invariants() {
    let cases = if cfg!(miri) { 3 } else { 512 };
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(script in proptest::collection::vec(any::<u8>(), 0..600))| {
        fuzzing::ring(&script);
    });
}

#[test]
fn slices_are_written_in_order_up_to_the_first_that_does_not_fit() {
    let mut bed = Testbed::new(Layout::new(4096).unwrap());
    let (a, b, c) = ([1u8; 1000], [2u8; 4000], [3u8; 10]);
    // `b` fits only in part: the write stops there, `c` waits for room.
    assert_eq!(bed.write_slices(&[&a, &b, &c]).unwrap(), 4096);
    let mut buf = Vec::new();
    assert_eq!(bed.read_into(&mut buf, usize::MAX).unwrap(), 4096);
    assert_eq!(&buf[..1000], &a[..]);
    assert!(buf[1000..].iter().all(|&x| x == 2));
    assert_eq!(bed.write_slices(&[&c]).unwrap(), 10);
    assert_eq!(bed.write_slices(&[]).unwrap(), 0);
}
