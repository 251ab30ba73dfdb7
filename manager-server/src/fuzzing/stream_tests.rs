//! The harness's stream operations: each does what the encoding says, and the inputs
//! stored before streams came keep their meaning.

use super::program::{Program, is_stream};
use super::*;

/// The answers to request `id`, in order.
fn answers_to(outcome: &Outcome, id: RequestId) -> Vec<Answer> {
    outcome.replies.iter().filter(|(i, _)| *i == id).map(|(_, a)| a.clone()).collect()
}

/// A list of three items, opened (request `FIRST_ID + 1`) with credit selector `credit`.
fn three(credit: u8) -> Program {
    Program::new(0).create(b::LIST, &[3, 0x01, 0x02, 0x03]).open(0, b::LIST, "iter", credit, &[])
}

#[test]
fn every_method_opened_streams_or_is_refused_as_no_stream() {
    let mut streams = 0;
    for (type_id, _, methods) in TYPES.iter() {
        for (method, _) in methods {
            let outcome = play(&Program::new(0).create(type_id, &[]).open(0, type_id, method, 6, &[]).0);
            check(&outcome);
            assert!(outcome.pong, "{type_id}.{method}");
            let answers = answers_to(&outcome, FIRST_ID + 1);
            if is_stream(type_id, method) {
                streams += 1;
                if *method == "watch" {
                    // A watch never ends by itself: its snapshot, then it waits for changes.
                    assert!(matches!(&answers[..], [Answer::Items(1, _)]), "{type_id}.{method}: {answers:?}");
                } else {
                    assert!(matches!(answers.last(), Some(Answer::End)), "{type_id}.{method}: {answers:?}");
                }
            } else {
                assert!(
                    matches!(&answers[..], [Answer::Error(RemoteErrorKind::NotExposed, _)]),
                    "{type_id}.{method}: {answers:?}"
                );
            }
        }
    }
    assert!(streams >= 1, "the list's iter is a stream");
}

#[test]
fn a_stream_sends_what_its_credit_allows_and_nothing_after_a_cancel() {
    // No credit: nothing until some comes; then everything, and the end.
    let outcome = play(&three(0).op(12, &[0]).op(12, &[0, 2, 0, 9]).0);
    check(&outcome);
    let answers = answers_to(&outcome, FIRST_ID + 1);
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(matches!(answers[..], [Answer::Items(3, _), Answer::End]), "{answers:?}");
    // One byte of credit: one item; cancelled, then credited: nothing more.
    let outcome = play(&three(1).op(12, &[0]).op(12, &[0, 3, 0]).op(12, &[0, 2, 0, 9]).0);
    check(&outcome);
    assert_eq!(answers_to(&outcome, FIRST_ID + 1), [Answer::Items(1, vec![1, 1, 0])]);
    // Credit of every stream, at u32::MAX, twice: no overflow, the end once.
    let outcome = play(&three(0).op(12, &[0, 4, 9]).op(12, &[0, 4, 9]).0);
    check(&outcome);
    assert!(matches!(answers_to(&outcome, FIRST_ID + 1)[..], [Answer::Items(3, _), Answer::End]));
}

#[test]
fn reopening_a_live_stream_id_ends_the_old_stream_silently() {
    // 0xE: the previous request's id again — the stream still open with no credit.
    let list = &TYPES[usize::from(Program::type_index(b::LIST))].2;
    let iter = u8::try_from(list.iter().position(|(name, _)| *name == "iter").unwrap()).unwrap();
    let outcome = play(&three(0).op(0xEC, &[0, 1, 0, iter, 9]).0);
    check(&outcome);
    let answers = answers_to(&outcome, FIRST_ID + 1);
    assert!(matches!(answers[..], [Answer::Items(3, _), Answer::End]), "{answers:?}");
    assert_eq!(outcome.stats.streams, 0);
}

#[test]
fn op_12_without_a_stream_byte_still_waits_for_a_ping() {
    for payload in [&[][..], &[0], &[0, 0], &[0, 0, 5]] {
        let outcome = play(&Program::new(0).op(12, payload).0);
        check(&outcome);
        let pongs = outcome.replies.iter().filter(|(_, a)| *a == Answer::Pong).count();
        assert_eq!(pongs, 2, "{payload:?}: the waited ping and the last one");
    }
}
