//! The relay's state through breaks, acknowledgements, resumes and garbage.

use super::*;
use std::time::Duration;

fn deliver(from: &mut Relay, to: &mut Relay) -> Vec<u8> {
    let wire = from.take_to_link();
    to.link_buffer().extend_from_slice(&wire);
    to.process_link().unwrap();
    to.take_to_inner()
}

#[test]
fn requests_and_replies_round_trip() {
    for r in [
        SessionRequest::New { keepalive: Duration::from_millis(1500) },
        SessionRequest::Resume { id: SessionId([7; 16]), received: 99, resent_from: 3 },
        SessionRequest::SharedMemory,
    ] {
        assert_eq!(SessionRequest::decode(&r.encode()).unwrap(), Some(r));
    }
    assert_eq!(SessionRequest::decode(&[]).unwrap(), None);
    for r in [
        SessionReply::Started { id: SessionId([1; 16]), grace: Duration::from_secs(30) },
        SessionReply::Resumed { received: 5 },
        SessionReply::Unknown,
    ] {
        assert_eq!(SessionReply::decode(&r.encode()).unwrap(), r);
    }
    assert!(SessionRequest::decode(&[9]).is_err());
    assert!(SessionRequest::decode(&[3, 0]).is_err());
    for o in [RingOffer::Offered { capacity: 1 << 22 }, RingOffer::Declined("not here".into())] {
        assert_eq!(RingOffer::decode(&o.encode()).unwrap(), o);
    }
    assert!(RingOffer::decode(&[0, 1, 2]).is_err());
    assert!(RingOffer::decode(&[7]).is_err());
    // `Resumed` (tag 1) with one byte of its eight.
    assert!(SessionReply::decode(&[1, 1]).is_err());
}

#[test]
fn a_break_loses_nothing_and_doubles_nothing() {
    let (mut c, mut s) = (Relay::new(), Relay::new());
    c.from_inner(b"one");
    assert_eq!(deliver(&mut c, &mut s), b"one");
    c.from_inner(b"two");
    // "two" is lost with the link; the server never saw it.
    let _lost = c.take_to_link();
    s.from_inner(b"reply-one");
    let _lost_too = s.take_to_link();
    // A new link: the client resends from what the server acknowledged (nothing
    // yet: "one" too, which the server drops), each side says what it received.
    let (from, early, upto) = c.resend_early();
    assert_eq!((from, upto), (0, 6));
    s.resume(c.received(), from).unwrap();
    s.link_buffer().extend_from_slice(&early);
    s.process_link().unwrap();
    assert_eq!(s.take_to_inner(), b"two");
    c.resumed(s.received(), upto).unwrap();
    assert!(c.take_to_link().is_empty());
    assert_eq!(deliver(&mut s, &mut c), b"reply-one");
}

#[test]
fn a_resend_shorter_than_what_the_server_had_is_skipped_whole_and_continued() {
    let (mut c, mut s) = (Relay::new(), Relay::new());
    let big = vec![1u8; RESEND_EARLY + 1000];
    c.from_inner(&big);
    // The server got it all, but its acknowledgement was lost with the link.
    assert_eq!(deliver(&mut c, &mut s).len(), big.len());
    let _lost_ack = s.take_to_link();
    c.from_inner(b"new");
    let _lost = c.take_to_link();
    let (from, early, upto) = c.resend_early();
    assert_eq!((from, upto), (0, RESEND_EARLY as u64));
    s.resume(c.received(), from).unwrap();
    s.link_buffer().extend_from_slice(&early);
    s.process_link().unwrap();
    assert!(s.take_to_inner().is_empty());
    c.resumed(s.received(), upto).unwrap();
    assert_eq!(deliver(&mut c, &mut s), b"new", "the rest of the resend is skipped, the new bytes land once");
}

#[test]
fn acknowledged_bytes_are_forgotten() {
    let (mut c, mut s) = (Relay::new(), Relay::new());
    let big = vec![5u8; 3 * MAX_CHUNK];
    c.from_inner(&big);
    assert_eq!(deliver(&mut c, &mut s), big);
    // The server acknowledged (over ACK_EVERY bytes): its ack reaches the client.
    deliver(&mut s, &mut c);
    assert_eq!(c.unacknowledged(), 0);
    assert!(c.resumed(0, 0).is_err(), "the peer cannot have received less than it acknowledged");
    assert!(s.resume(0, s.received() + 1).is_err(), "nor resend from past what we received");
}

#[test]
fn a_tick_pings_an_idle_link_and_reports_silence() {
    let (mut c, mut s) = (Relay::new(), Relay::new());
    assert!(!c.tick());
    deliver(&mut c, &mut s); // the ping
    deliver(&mut s, &mut c); // the pong
    assert!(c.tick());
    c.close();
    deliver(&mut c, &mut s);
    assert!(s.peer_closed());
}

#[test]
fn garbage_on_the_link_is_an_error_not_a_panic() {
    let mut s = Relay::new();
    s.link_buffer().extend_from_slice(&[0, 0, 0, 1, 9]);
    assert!(s.process_link().is_err());
    let mut s = Relay::new();
    s.link_buffer().extend_from_slice(&[0, 0, 0, 9, /* ACK */ 1, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(s.process_link().is_err(), "acknowledges bytes never sent");
}
