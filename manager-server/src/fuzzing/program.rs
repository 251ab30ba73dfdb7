//! Inputs for the harness's tests and seeds, built by what they do.
#![allow(clippy::unwrap_used, reason = "test code")]

use super::*;

/// Builds inputs for the tests and the seeds.
#[derive(Default)]
pub(super) struct Program(pub(super) Vec<u8>);

impl Program {
    pub(super) fn new(config: u8) -> Program {
        Program(vec![config])
    }

    pub(super) fn op(mut self, op: u8, payload: &[u8]) -> Program {
        self.0.push(op);
        self.0.push(u8::try_from(payload.len()).unwrap());
        self.0.extend_from_slice(payload);
        self
    }

    pub(super) fn type_index(type_id: &str) -> u8 {
        u8::try_from(TYPES.iter().position(|t| t.0 == type_id).unwrap()).unwrap()
    }

    /// Creates a `type_id` with constructor selectors `args`.
    pub(super) fn create(self, type_id: &str, args: &[u8]) -> Program {
        let payload = [&[Program::type_index(type_id)][..], args].concat();
        self.op(0, &payload)
    }

    /// Calls `method` of the `nth` object created, with selectors `args`.
    pub(super) fn call(self, nth: u8, type_id: &str, method: &str, args: &[u8]) -> Program {
        let methods = &TYPES[usize::from(Program::type_index(type_id))].2;
        let m = u8::try_from(methods.iter().position(|(name, _)| *name == method).unwrap()).unwrap();
        self.op(2, &[&[nth, m][..], args].concat())
    }

    /// Opens `method` of the `nth` object created as a stream, with credit selector
    /// `credit` (an index into [`CREDITS`]) and selectors `args`.
    pub(super) fn open(self, nth: u8, type_id: &str, method: &str, credit: u8, args: &[u8]) -> Program {
        let methods = &TYPES[usize::from(Program::type_index(type_id))].2;
        let m = u8::try_from(methods.iter().position(|(name, _)| *name == method).unwrap()).unwrap();
        self.op(12, &[&[0, 1, nth, m, credit][..], args].concat())
    }
}

/// Whether `method` of `type_id` is a stream method: an `Open` of it is answered with
/// items or an end.
pub(super) fn is_stream(type_id: &str, method: &str) -> bool {
    let outcome = play(&Program::new(0).create(type_id, &[]).open(0, type_id, method, 6, &[]).0);
    outcome.replies.iter().any(|(id, a)| *id == FIRST_ID + 1 && matches!(a, Answer::Items(..) | Answer::End))
}
