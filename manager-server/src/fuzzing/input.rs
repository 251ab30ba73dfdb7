//! What an input's bytes stand for: the built-ins' signatures, the tables of adversarial
//! values, and the reader of a payload.

use super::*;

/// Every built-in: its type id, its constructor's signature, and its exposed methods with
/// theirs, from their contracts (`manager_proto::builtin::all_shapes`: one letter a
/// value, see `manager_proto::contract::Shape`). The first `u` of a lock's or a
/// condition's method is `w` here, an owner id: picked from a few, so that owners meet.
pub(crate) static TYPES: std::sync::LazyLock<Vec<Builtin>> = std::sync::LazyLock::new(|| {
    let owned = [b::LOCK, b::RLOCK, b::CONDITION];
    let mut types = b::all_shapes();
    for (type_id, _, methods) in &mut types {
        for (_, sig) in methods.iter_mut().filter(|_| owned.contains(type_id)) {
            if sig.starts_with('u') {
                sig.replace_range(..1, "w");
            }
        }
    }
    types
});

/// A built-in's type id, constructor signature, and methods with theirs.
pub(crate) type Builtin = (&'static str, String, Vec<(&'static str, String)>);

/// Adversarial signed numbers (indexes, slice bounds and steps).
pub(super) const I64S: &[i64] = &[
    0,
    1,
    -1,
    2,
    -2,
    3,
    -3,
    i64::MIN,
    i64::MAX,
    i64::MIN + 1,
    i64::MAX - 1,
    1 << 24,
    -(1 << 24),
    1 << 40,
    -(1 << 40),
    1 << 62,
    -(1 << 62),
    1 << 32,
];

/// Adversarial unsigned numbers (counts, sizes, versions); 1 first, so that an all-zero
/// payload makes a barrier of one party and a semaphore with one permit.
pub(super) const U64S: &[u64] =
    &[1, 0, 2, 3, 4, 1 << 24, 1 << 40, u64::MAX, u64::MAX - 1, i64::MAX as u64, 1 << 32, 1 << 63, 16, 1000];

/// Timeouts in seconds: none, the edges, and what no timeout may be.
pub(super) const TIMEOUTS: &[Option<f64>] = &[
    None,
    Some(0.0),
    Some(-0.0),
    Some(0.001),
    Some(0.5),
    Some(1.0),
    Some(30.0),
    Some(1e9),
    Some(1e300),
    Some(f64::MAX),
    Some(f64::NAN),
    Some(f64::INFINITY),
    Some(f64::NEG_INFINITY),
    Some(-1.0),
    Some(5e-324),
    Some(1e-9),
];

/// Floats whose encodings make `Value` numbers.
pub(super) const FLOATS: &[f64] =
    &[1.5, 0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN_POSITIVE];

/// Attribute names and object names.
pub(super) const NAMES: &[&str] = &["a", "b", "", "é"];

/// How long operation 13 waits.
pub(super) const SLEEPS: &[Duration] = &[
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_secs(1),
    Duration::from_secs(60),
    Duration::from_secs(1_000_000),
];

/// An operation's payload; reads zeros past its end.
pub(super) struct Payload<'a>(pub(super) &'a [u8]);

impl<'a> Payload<'a> {
    pub(super) fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&first, rest)) => {
                self.0 = rest;
                first
            }
            None => 0,
        }
    }

    pub(super) fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    pub(super) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    /// Eight bytes (fewer at the end, zero-filled), little-endian.
    pub(super) fn raw_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        let taken = self.take(8);
        bytes[..taken.len()].copy_from_slice(taken);
        u64::from_le_bytes(bytes)
    }

    pub(super) fn pick<T: Copy>(&mut self, table: &[T]) -> T {
        table[usize::from(self.byte()) % table.len()]
    }

    pub(super) fn u64(&mut self) -> u64 {
        match self.byte() {
            s if s >= 0xE0 => self.raw_u64(),
            s => U64S[usize::from(s) % U64S.len()],
        }
    }

    pub(super) fn i64(&mut self) -> i64 {
        match self.byte() {
            s if s >= 0xE0 => self.raw_u64() as i64,
            s => I64S[usize::from(s) % I64S.len()],
        }
    }

    /// Zero is `None`.
    pub(super) fn opt_i64(&mut self) -> Option<i64> {
        match self.byte() {
            0 => None,
            s if s >= 0xE0 => Some(self.raw_u64() as i64),
            s => Some(I64S[usize::from(s - 1) % I64S.len()]),
        }
    }

    pub(super) fn timeout(&mut self) -> Option<f64> {
        match self.byte() {
            s if s >= 0xF0 => Some(f64::from_bits(self.raw_u64())),
            s => TIMEOUTS[usize::from(s) % TIMEOUTS.len()],
        }
    }

    pub(super) fn name(&mut self) -> String {
        match self.byte() {
            s if s >= 0xF0 => {
                let n = usize::from(s & 0x0F);
                String::from_utf8_lossy(self.take(n)).into_owned()
            }
            s => NAMES[usize::from(s) % NAMES.len()].to_owned(),
        }
    }

    /// A number's encoding, as `Value` holds one.
    pub(super) fn number(&mut self) -> Vec<u8> {
        match self.byte() % 8 {
            0 => encoded(&self.u64()),
            1 => encoded(&self.i64()),
            2 => encoded(&self.pick(FLOATS)),
            3 => encoded(&(self.pick(FLOATS) as f32)),
            4 => vec![self.byte()],
            5 => encoded(&self.pick(&[u128::MAX, 0, 1 << 100])),
            6 => encoded(&self.pick(&[i128::MIN, -1, 1 << 100])),
            _ => {
                let n = usize::from(self.byte() % 20);
                self.take(n).to_vec()
            }
        }
    }
}

pub(super) fn encoded<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("postcard encodes plain values")
}

pub(super) fn put<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    *out = postcard::to_extend(value, std::mem::take(out)).expect("postcard encodes plain values");
}
