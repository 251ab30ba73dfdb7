//! The harness's `Inspect`: each query is answered with reports that decode, and a
//! `Collect` (op 12, an even byte and nothing after) still means what it meant.

use super::program::Program;
use super::*;
use manager_proto::inspect::{ConnectionReport, ObjectReport};

#[test]
fn every_query_is_answered_and_collect_keeps_its_encoding() {
    let queue = Program::type_index(b::QUEUE);
    let input = Program::new(0)
        .create(b::LIST, &[])
        .create(b::QUEUE, &[])
        .op(12, &[2])
        .op(12, &[2, 3])
        .op(12, &[2, 1, 0])
        .op(12, &[2, 2, queue]);
    let outcome = play(&input.0);
    check(&outcome);
    assert!(outcome.pong);
    let answer = |n: u64| outcome.replies.iter().find(|(id, _)| *id == FIRST_ID + n).map(|(_, a)| a.clone());
    // The collect: a count, as before.
    assert_eq!(answer(2), Some(Answer::Value(vec![0])));
    let Some(Answer::Value(conns)) = answer(3) else { panic!("{:?}", answer(3)) };
    let conns: Vec<ConnectionReport> = postcard::from_bytes(&conns).unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].refs_held.len(), 2);
    let Some(Answer::Value(one)) = answer(4) else { panic!("{:?}", answer(4)) };
    let one: Vec<ObjectReport> = postcard::from_bytes(&one).unwrap();
    assert_eq!((one.len(), one[0].type_id.as_str(), one[0].repr.as_str()), (1, b::LIST, "[]"));
    let Some(Answer::Value(queues)) = answer(5) else { panic!("{:?}", answer(5)) };
    let queues: Vec<ObjectReport> = postcard::from_bytes(&queues).unwrap();
    assert_eq!(queues.iter().map(|o| o.type_id.as_str()).collect::<Vec<_>>(), [b::QUEUE]);
}
