//! Every number a built-in method takes, at its edges: 0, ±1, `i64::MIN`, `i64::MAX`,
//! `u64::MAX`, 2^24, 2^40, and for seconds NaN, ±inf, -0.0, negatives and the huge.
//! Keeps fixed what the hostile-numbers issue found by hand (a freeze, wraps, panics, a
//! 1.5 GB allocation from a dozen bytes) for every method, not just the ones the issue
//! named: each call, made through the client API against a `manager-server` process,
//! must answer — a value or a clear error — within the hang bound, never `Panicked`
//! (nor `Protocol` or `Decode`: the input is well-typed), and the object must still
//! work afterwards. Where Python has an answer (indexes, slices, Value arithmetic,
//! semaphore counts, a timeout's validity) the answer is checked against a model of it.
//!
//! Blocking calls are given a state they return from at once (an item in the queue, a
//! free lock) whenever their timeout is long: waiting as asked is not a hang.

use crate::server_bin::{HANG, ServerChild, bounded};
use manager_client::proto::Item;
use manager_client::{Client, Error, Proxy, RemoteErrorKind};
use proptest::prelude::*;
use proptest::strategy::Union;
use std::fmt::Debug;

const I64S: &[i64] =
    &[0, 1, -1, 2, -2, 3, -4, i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, 1 << 24, 1 << 40, -(1 << 40)];
const U64S: &[u64] = &[0, 1, 2, 3, u64::MAX, u64::MAX - 1, i64::MAX as u64, (i64::MAX as u64) + 1, 1 << 24, 1 << 40];
const F64S: &[f64] = &[
    0.0,
    -0.0,
    0.001,
    5e-324,
    f64::MIN_POSITIVE,
    -1.0,
    -1e-300,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MAX,
    -f64::MAX,
    1e300,
    1e9,
    1e10,
    1.5,
];

/// Seconds a server accepts as a timeout (Python: a non-negative number).
fn valid(t: Option<f64>) -> bool {
    t.is_none_or(|s| s.is_finite() && s >= 0.0)
}

/// Whether a wait with this timeout could outlast a test: forever, or a real duration.
fn long(t: Option<f64>) -> bool {
    t.is_none_or(|s| s.is_finite() && s > 0.01)
}

fn kind<T>(r: &Result<T, Error>) -> Option<RemoteErrorKind> {
    r.as_ref().err().and_then(Error::remote_kind)
}

/// The kind of a number leaving its type's range (Python's `OverflowError`).
fn is_overflow(k: Option<RemoteErrorKind>) -> bool {
    k == Some(RemoteErrorKind::Overflow)
}

/// An answer is a value or a clear error from the server: never a panic, never a
/// complaint about well-typed input, never a lost connection.
fn answered<T: Debug>(what: &str, r: &Result<T, Error>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => match e.remote_kind() {
            Some(RemoteErrorKind::Panicked | RemoteErrorKind::Protocol | RemoteErrorKind::Decode) | None => {
                Err(format!("{what}: {e:?}"))
            }
            Some(_) => Ok(()),
        },
    }
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Python's `slice(start, stop, step).indices(len)`, walked: the positions selected.
fn py_slice(len: usize, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Option<Vec<usize>> {
    let step = step.unwrap_or(1) as i128;
    if step == 0 {
        return None;
    }
    let len = len as i128;
    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
    let adjust = |v: Option<i64>, default: i128| match v {
        None => default,
        Some(v) if v < 0 => (v as i128 + len).max(lower),
        Some(v) => (v as i128).min(upper),
    };
    let start = adjust(start, if step < 0 { upper } else { lower });
    let stop = adjust(stop, if step < 0 { lower } else { upper });
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    Some(out)
}

/// Python's index into a sequence of `len`.
fn py_index(len: usize, i: i64) -> Option<usize> {
    let i = if i < 0 { i as i128 + len as i128 } else { i as i128 };
    (0..len as i128).contains(&i).then_some(i as usize)
}

const LIST: [u32; 3] = [10, 11, 12];

#[derive(Clone, Debug)]
enum Op {
    ListGet(i64),
    ListSet(i64),
    ListDelete(i64),
    ListPop(Option<i64>),
    ListInsert(i64),
    ListSlice(Option<i64>, Option<i64>, Option<i64>),
    ListDeleteSlice(Option<i64>, Option<i64>, Option<i64>),
    ListSetSlice(Option<i64>, Option<i64>, usize),
    ListIndex(Option<i64>, Option<i64>, u32),
    ListRepeat(usize, u64),
    ListReplaceIf(u64),
    ArrayGet(i64),
    ArraySet(i64),
    ArraySlice(Option<i64>, Option<i64>, Option<i64>),
    ArraySetSlice(Option<i64>, Option<i64>, Option<i64>),
    FetchInt { kind: usize, start: usize, delta: usize, sub: bool },
    FetchFloat { f32: bool, start: f64, delta: f64, sub: bool },
    QueueNew { maxsize: u64, joinable: bool },
    QueueGet { items: bool, block: bool, t: Option<f64> },
    QueuePut { full: bool, block: bool, t: Option<f64> },
    QueueGetMany { items: usize, max: u64, t: Option<f64> },
    LockAcquire { reentrant: bool, owner: u64, held: bool, blocking: bool, t: Option<f64> },
    Semaphore { bounded: bool, initial: u64, blocking: bool, t: Option<f64>, release: u64 },
    ConditionAcquire { owner: u64, held: bool, blocking: bool, t: Option<f64> },
    ConditionWait { owner: u64, t: Option<f64> },
    ConditionNotify { owner: u64, n: u64 },
    EventWait { set: bool, t: Option<f64> },
    Barrier { parties: u64, default: Option<f64>, t: Option<f64> },
}

fn int() -> impl Strategy<Value = i64> {
    prop::sample::select(I64S)
}

fn opt_int() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![1 => Just(None), 4 => int().prop_map(Some)]
}

fn count() -> impl Strategy<Value = u64> {
    prop::sample::select(U64S)
}

fn secs() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![1 => Just(None), 6 => prop::sample::select(F64S).prop_map(Some)]
}

/// Every method taking a number, with adversarial numbers. A blocking call with a long
/// timeout gets a state it can return from at once.
fn op() -> impl Strategy<Value = Op> {
    Union::new(vec![
        int().prop_map(Op::ListGet).boxed(),
        int().prop_map(Op::ListSet).boxed(),
        int().prop_map(Op::ListDelete).boxed(),
        opt_int().prop_map(Op::ListPop).boxed(),
        int().prop_map(Op::ListInsert).boxed(),
        (opt_int(), opt_int(), opt_int()).prop_map(|(a, b, c)| Op::ListSlice(a, b, c)).boxed(),
        (opt_int(), opt_int(), opt_int()).prop_map(|(a, b, c)| Op::ListDeleteSlice(a, b, c)).boxed(),
        (opt_int(), opt_int(), 0..4usize).prop_map(|(a, b, n)| Op::ListSetSlice(a, b, n)).boxed(),
        (opt_int(), opt_int(), 10..13u32).prop_map(|(a, b, v)| Op::ListIndex(a, b, v)).boxed(),
        (0..4usize, count()).prop_map(|(len, n)| Op::ListRepeat(len, n)).boxed(),
        count().prop_map(Op::ListReplaceIf).boxed(),
        int().prop_map(Op::ArrayGet).boxed(),
        int().prop_map(Op::ArraySet).boxed(),
        (opt_int(), opt_int(), opt_int()).prop_map(|(a, b, c)| Op::ArraySlice(a, b, c)).boxed(),
        (opt_int(), opt_int(), opt_int()).prop_map(|(a, b, c)| Op::ArraySetSlice(a, b, c)).boxed(),
        (0..10usize, 0..7usize, 0..7usize, any::<bool>())
            .prop_map(|(kind, start, delta, sub)| Op::FetchInt { kind, start, delta, sub })
            .boxed(),
        (any::<bool>(), prop::sample::select(F64S), prop::sample::select(F64S), any::<bool>())
            .prop_map(|(f32, start, delta, sub)| Op::FetchFloat { f32, start, delta, sub })
            .boxed(),
        (count(), any::<bool>()).prop_map(|(maxsize, joinable)| Op::QueueNew { maxsize, joinable }).boxed(),
        (any::<bool>(), any::<bool>(), secs())
            .prop_map(|(items, block, t)| Op::QueueGet { items: items || (block && valid(t) && long(t)), block, t })
            .boxed(),
        (any::<bool>(), any::<bool>(), secs())
            .prop_map(|(full, block, t)| Op::QueuePut { full: full && !(block && valid(t) && long(t)), block, t })
            .boxed(),
        (0..3usize, count(), secs())
            .prop_map(|(items, max, t)| {
                let items = if items == 0 && valid(t) && long(t) { 1 } else { items };
                Op::QueueGetMany { items, max, t }
            })
            .boxed(),
        (any::<bool>(), count(), any::<bool>(), any::<bool>(), secs())
            .prop_map(|(reentrant, owner, held, blocking, t)| Op::LockAcquire {
                reentrant,
                owner,
                held: held && !(blocking && valid(t) && long(t)),
                blocking,
                t,
            })
            .boxed(),
        (any::<bool>(), count(), any::<bool>(), secs(), count())
            .prop_map(|(bounded, initial, blocking, t, release)| {
                // No permit and a long wait: give it one.
                let initial = if initial == 0 && blocking && valid(t) && long(t) { 1 } else { initial };
                Op::Semaphore { bounded, initial, blocking, t, release }
            })
            .boxed(),
        (count(), any::<bool>(), any::<bool>(), secs())
            .prop_map(|(owner, held, blocking, t)| Op::ConditionAcquire {
                owner,
                held: held && !(blocking && valid(t) && long(t)),
                blocking,
                t,
            })
            .boxed(),
        (count(), secs()).prop_map(|(owner, t)| Op::ConditionWait { owner, t }).boxed(),
        (count(), count()).prop_map(|(owner, n)| Op::ConditionNotify { owner, n }).boxed(),
        (any::<bool>(), secs()).prop_map(|(set, t)| Op::EventWait { set: set || (valid(t) && long(t)), t }).boxed(),
        (count(), secs(), secs()).prop_map(|(parties, default, t)| Op::Barrier { parties, default, t }).boxed(),
    ])
}

/// A `Value`'s integer kinds, with their edges.
trait Int:
    serde::Serialize + serde::de::DeserializeOwned + manager_client::proto::builtin::Number + Debug + PartialEq
{
    fn edges() -> [Self; 7];
    fn apply(self, delta: Self, sub: bool) -> Option<Self>;
}

macro_rules! ints {
    ($($t:ty),*) => {$(
        impl Int for $t {
            fn edges() -> [Self; 7] {
                [0, 1, (0 as $t).wrapping_sub(1), <$t>::MIN, <$t>::MAX, <$t>::MIN.wrapping_add(1), <$t>::MAX.wrapping_sub(1)]
            }
            fn apply(self, delta: Self, sub: bool) -> Option<Self> {
                if sub { self.checked_sub(delta) } else { self.checked_add(delta) }
            }
        }
    )*};
}
ints!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128);

async fn fetch_int<T: Int + Copy>(client: &Client, start: usize, delta: usize, sub: bool) -> Result<(), String> {
    let (start, delta) = (T::edges()[start], T::edges()[delta]);
    let v = client.value(start).await.unwrap();
    let what = format!("Value({start:?}).fetch_{}({delta:?})", if sub { "sub" } else { "add" });
    let r = bounded(&what, async { if sub { v.fetch_sub(delta).await } else { v.fetch_add(delta).await } }).await;
    answered(&what, &r)?;
    let now = bounded("Value.get", v.get()).await.map_err(|e| format!("after {what}: {e:?}"))?;
    match start.apply(delta, sub) {
        Some(new) => {
            check!(r.as_ref().ok() == Some(&start), "{what}: {r:?}");
            check!(now == new, "{what} left {now:?}");
        }
        None => {
            let k = kind(&r);
            check!(is_overflow(k), "{what} overflows: {r:?}");
            check!(now == start, "{what} failed but left {now:?}");
        }
    }
    Ok(())
}

async fn run(client: &Client, op: &Op) -> Result<(), String> {
    let what = format!("{op:?}");
    match *op {
        Op::ListGet(i) => {
            let l = client.list_from(&LIST).await.unwrap();
            let r = bounded(&what, l.get(i)).await;
            answered(&what, &r)?;
            match py_index(3, i) {
                Some(at) => check!(r.as_ref().ok() == Some(&LIST[at]), "{what}: {r:?}"),
                None => check!(kind(&r) == Some(RemoteErrorKind::IndexOutOfRange), "{what}: {r:?}"),
            }
            check!(l.snapshot().await.unwrap() == LIST, "{what} changed the list");
        }
        Op::ListSet(i) | Op::ListDelete(i) | Op::ListPop(Some(i)) => {
            let l = client.list_from(&LIST).await.unwrap();
            let r = match op {
                Op::ListSet(_) => bounded(&what, l.set(i, 99)).await.map(|()| None),
                Op::ListDelete(_) => bounded(&what, l.delete(i)).await.map(Some),
                _ => bounded(&what, l.pop_at(i)).await.map(Some),
            };
            answered(&what, &r)?;
            let mut expected = LIST.to_vec();
            match py_index(3, i) {
                Some(at) => {
                    check!(r.is_ok(), "{what}: {r:?}");
                    if let Ok(Some(got)) = r {
                        check!(got == expected.remove(at), "{what} returned {got}");
                    } else {
                        expected[at] = 99;
                    }
                }
                None => check!(kind(&r) == Some(RemoteErrorKind::IndexOutOfRange), "{what}: {r:?}"),
            }
            check!(l.snapshot().await.unwrap() == expected, "{what}");
        }
        Op::ListPop(None) => {
            let l = client.list_from(&[] as &[u32]).await.unwrap();
            let r = bounded(&what, l.pop()).await;
            check!(kind(&r) == Some(RemoteErrorKind::IndexOutOfRange), "pop from an empty list: {r:?}");
            l.append(1).await.unwrap();
            check!(bounded(&what, l.pop()).await.ok() == Some(1), "{what}");
        }
        Op::ListInsert(i) => {
            let l = client.list_from(&LIST).await.unwrap();
            let r = bounded(&what, l.insert(i, 99)).await;
            answered(&what, &r)?;
            check!(r.is_ok(), "{what}: {r:?}");
            let at = if i < 0 { (i as i128 + 3).max(0) } else { (i as i128).min(3) } as usize;
            let mut expected = LIST.to_vec();
            expected.insert(at, 99);
            check!(l.snapshot().await.unwrap() == expected, "{what}");
        }
        Op::ListSlice(a, b, c) | Op::ArraySlice(a, b, c) => {
            let r = match op {
                Op::ListSlice(..) => bounded(&what, client.list_from(&LIST).await.unwrap().slice(a, b, c)).await,
                _ => bounded(&what, client.array(&LIST).await.unwrap().slice(a, b, c)).await,
            };
            answered(&what, &r)?;
            match py_slice(3, a, b, c) {
                Some(at) => {
                    let expected: Vec<u32> = at.iter().map(|&p| LIST[p]).collect();
                    check!(r.as_ref().ok() == Some(&expected), "{what}: {r:?}, Python: {expected:?}");
                }
                None => check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}"),
            }
        }
        Op::ListDeleteSlice(a, b, c) => {
            let l = client.list_from(&LIST).await.unwrap();
            let r = bounded(&what, l.delete_slice(a, b, c)).await;
            answered(&what, &r)?;
            let mut expected = LIST.to_vec();
            match py_slice(3, a, b, c) {
                Some(at) => {
                    check!(r.is_ok(), "{what}: {r:?}");
                    let mut at = at;
                    at.sort_unstable();
                    for p in at.into_iter().rev() {
                        expected.remove(p);
                    }
                }
                None => check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}"),
            }
            check!(l.snapshot().await.unwrap() == expected, "{what}");
        }
        Op::ListSetSlice(a, b, n) => {
            let l = client.list_from(&LIST).await.unwrap();
            let new: Vec<u32> = (0..n as u32).map(|v| 90 + v).collect();
            let r = bounded(&what, l.set_slice(a, b, new.clone())).await;
            answered(&what, &r)?;
            check!(r.is_ok(), "{what}: {r:?}");
            // Python: l[a:b] = new replaces a..max(a, b).
            let from = py_slice(3, a, None, None).unwrap().first().copied().unwrap_or(3);
            let to = py_slice(3, None, b, None).unwrap().last().map_or(0, |p| p + 1).max(from);
            let mut expected = LIST.to_vec();
            expected.splice(from..to, new);
            check!(l.snapshot().await.unwrap() == expected, "{what}: Python gives {expected:?}");
        }
        Op::ListIndex(a, b, v) => {
            let l = client.list_from(&LIST).await.unwrap();
            let r = bounded(&what, l.index_in(&v, a, b)).await;
            answered(&what, &r)?;
            match py_slice(3, a, b, None).unwrap().into_iter().find(|&p| LIST[p] == v) {
                Some(at) => check!(r.as_ref().ok() == Some(&at), "{what}: {r:?}"),
                None => check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}"),
            }
        }
        Op::ListRepeat(len, n) => {
            let l = client.list_from(&LIST[..len]).await.unwrap();
            let r = bounded(&what, l.repeat(n)).await;
            answered(&what, &r)?;
            let total = len as u128 * n as u128;
            let now = bounded("list.len", l.len()).await.map_err(|e| format!("after {what}: {e:?}"))?;
            if total <= 64 || len == 0 {
                // Small (or empty): done, as Python does it. An empty list repeated past
                // isize::MAX may also be refused, as Python refuses the count.
                let refused = n > i64::MAX as u64 && r.is_err();
                check!(r.is_ok() || refused, "{what}: {r:?}");
                check!(now as u128 == if r.is_ok() { total } else { len as u128 }, "{what} left {now} elements");
            } else if total >= 1 << 24 {
                let k = kind(&r);
                check!(k == Some(RemoteErrorKind::LimitExceeded) || is_overflow(k), "{what}: {r:?}");
                check!(now == len, "{what} was refused but left {now} elements");
            }
        }
        Op::ListReplaceIf(version) => {
            let l = client.list_from(&LIST).await.unwrap();
            let r: Result<bool, Error> =
                bounded(&what, l.handle().call("replace_if", &(version, vec![Item::plain(vec![1])]))).await;
            answered(&what, &r)?;
            check!(r.as_ref().ok() == Some(&(version == 0)), "{what} on a fresh list (version 0): {r:?}");
        }
        Op::ArrayGet(i) | Op::ArraySet(i) => {
            let a = client.array(&LIST).await.unwrap();
            let set = matches!(op, Op::ArraySet(_));
            let r = if set { bounded(&what, a.set(i, 99)).await.map(|()| 99) } else { bounded(&what, a.get(i)).await };
            answered(&what, &r)?;
            let mut expected = LIST.to_vec();
            match py_index(3, i) {
                Some(at) if set => {
                    check!(r.is_ok(), "{what}: {r:?}");
                    expected[at] = 99;
                }
                Some(at) => check!(r.as_ref().ok() == Some(&LIST[at]), "{what}: {r:?}"),
                None => check!(kind(&r) == Some(RemoteErrorKind::IndexOutOfRange), "{what}: {r:?}"),
            }
            check!(a.snapshot().await.unwrap() == expected, "{what}");
        }
        Op::ArraySetSlice(a, b, c) => {
            let arr = client.array(&LIST).await.unwrap();
            let at = py_slice(3, a, b, c);
            let n = at.as_ref().map_or(1, Vec::len);
            let new: Vec<u32> = (0..n as u32).map(|v| 90 + v).collect();
            let r = bounded(&what, arr.set_slice(a, b, c, new.clone())).await;
            answered(&what, &r)?;
            let mut expected = LIST.to_vec();
            match at {
                Some(at) => {
                    check!(r.is_ok(), "{what}: {r:?}");
                    for (p, v) in at.into_iter().zip(new) {
                        expected[p] = v;
                    }
                }
                None => check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}"),
            }
            check!(arr.snapshot().await.unwrap() == expected, "{what}");
            // The wrong length is refused.
            let r = bounded(&what, arr.set_slice(a, b, c, vec![1; n + 1])).await;
            check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what} with one too many: {r:?}");
        }
        Op::FetchInt { kind: k, start, delta, sub } => {
            match k {
                0 => fetch_int::<i8>(client, start, delta, sub).await,
                1 => fetch_int::<i16>(client, start, delta, sub).await,
                2 => fetch_int::<i32>(client, start, delta, sub).await,
                3 => fetch_int::<i64>(client, start, delta, sub).await,
                4 => fetch_int::<i128>(client, start, delta, sub).await,
                5 => fetch_int::<u8>(client, start, delta, sub).await,
                6 => fetch_int::<u16>(client, start, delta, sub).await,
                7 => fetch_int::<u32>(client, start, delta, sub).await,
                8 => fetch_int::<u64>(client, start, delta, sub).await,
                _ => fetch_int::<u128>(client, start, delta, sub).await,
            }?;
        }
        Op::FetchFloat { f32: single, start, delta, sub } => {
            // IEEE arithmetic, as Python's floats: inf, NaN and -0.0 included.
            let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            let (old, now, expected) = if single {
                let v = client.value(start as f32).await.unwrap();
                let r = bounded(&what, async {
                    if sub { v.fetch_sub(delta as f32).await } else { v.fetch_add(delta as f32).await }
                })
                .await;
                answered(&what, &r)?;
                let e = if sub { start as f32 - delta as f32 } else { start as f32 + delta as f32 };
                (r.map_err(|e| format!("{what}: {e:?}"))? as f64, v.get().await.unwrap() as f64, e as f64)
            } else {
                let v = client.value(start).await.unwrap();
                let r = bounded(&what, async { if sub { v.fetch_sub(delta).await } else { v.fetch_add(delta).await } })
                    .await;
                answered(&what, &r)?;
                let e = if sub { start - delta } else { start + delta };
                (r.map_err(|e| format!("{what}: {e:?}"))?, v.get().await.unwrap(), e)
            };
            let start = if single { start as f32 as f64 } else { start };
            check!(same(old, start), "{what} returned {old}");
            check!(same(now, expected), "{what} left {now}, IEEE gives {expected}");
        }
        Op::QueueNew { maxsize, joinable } => {
            let q = if joinable {
                bounded(&what, client.joinable_queue::<u32>(maxsize as usize)).await.map(|q| q.handle().clone())
            } else {
                bounded(&what, client.queue::<u32>(maxsize as usize)).await.map(|q| q.handle().clone())
            };
            answered(&what, &q)?;
            let q = manager_client::QueueProxy::<u32>::from_handle(q.map_err(|e| format!("{what}: {e:?}"))?);
            check!(bounded(&what, q.maxsize()).await.ok() == Some(maxsize as usize), "{what}: maxsize");
            let r = bounded(&what, q.put_nowait(5)).await;
            check!(r.is_ok(), "{what}: put: {r:?}");
            check!(q.full().await.unwrap() == (maxsize == 1), "{what}: full");
            check!(q.get().await.ok() == Some(5), "{what}: get");
        }
        Op::QueueGet { items, block, t } => {
            let q = client.queue::<u32>(0).await.unwrap();
            if items {
                q.put(7).await.unwrap();
            }
            let r: Result<Item, Error> = bounded(&what, q.handle().call("get", &(block, t))).await;
            answered(&what, &r)?;
            let k = kind(&r);
            match (valid(t), items) {
                (false, _) => check!(
                    k == Some(RemoteErrorKind::InvalidValue) || (!block && (r.is_ok() == items)),
                    "{what}: {r:?}"
                ),
                (true, true) => check!(r.is_ok(), "{what}: {r:?}"),
                (true, false) => check!(k == Some(RemoteErrorKind::Empty), "{what}: {r:?}"),
            }
            // Still a queue.
            q.put(8).await.unwrap();
            let left = q.qsize().await.unwrap();
            check!(left == 1 + usize::from(items && r.is_err()), "{what}: {left} left");
        }
        Op::QueuePut { full, block, t } => {
            let q = client.queue::<u32>(1).await.unwrap();
            if full {
                q.put(7).await.unwrap();
            }
            // The typed API cannot carry odd seconds; the dynamic call can.
            let r: Result<(), Error> = bounded(&what, q.handle().call("put", &(Item::plain(vec![9]), block, t))).await;
            answered(&what, &r)?;
            let k = kind(&r);
            let outcome_ok = if full { k == Some(RemoteErrorKind::Full) } else { r.is_ok() };
            if valid(t) {
                check!(outcome_ok, "{what}: {r:?}");
            } else {
                // Python ignores the timeout of a non-blocking put.
                check!(k == Some(RemoteErrorKind::InvalidValue) || (!block && outcome_ok), "{what}: {r:?}");
            }
            let size = q.qsize().await.unwrap();
            check!(size == usize::from(full) + usize::from(r.is_ok()), "{what}: {size} in the queue");
        }
        Op::QueueGetMany { items, max, t } => {
            let q = client.queue::<u32>(0).await.unwrap();
            for v in 0..items as u32 {
                q.put(v).await.unwrap();
            }
            let r: Result<Vec<Item>, Error> = bounded(&what, q.handle().call("get_many", &(max, true, t))).await;
            answered(&what, &r)?;
            if !valid(t) {
                check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}");
            } else if items == 0 {
                check!(kind(&r) == Some(RemoteErrorKind::Empty), "{what}: {r:?}");
            } else {
                let got = r.as_ref().map_err(|e| format!("{what}: {e:?}"))?.len() as u64;
                check!(got >= 1 && got <= items as u64 && got <= max.max(1), "{what}: got {got}");
                check!(max == 0 || got == max.min(items as u64), "{what}: got {got}");
            }
            check!(q.put(5).await.is_ok(), "{what}: still a queue");
        }
        Op::LockAcquire { reentrant, owner, held, blocking, t } => {
            let handle = if reentrant {
                client.rlock().await.unwrap().handle().clone()
            } else {
                client.lock().await.unwrap().handle().clone()
            };
            let other = owner ^ 1;
            if held {
                let got: bool = handle.call("acquire", &(other, true, None::<f64>)).await.unwrap();
                check!(got, "the holder's acquire");
            }
            let r: Result<bool, Error> = bounded(&what, handle.call("acquire", &(owner, blocking, t))).await;
            answered(&what, &r)?;
            if !valid(t) || (!blocking && t.is_some()) {
                check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}");
            } else {
                check!(r.as_ref().ok() == Some(&!held), "{what}: {r:?}");
            }
            if r.as_ref().is_ok_and(|&got| got) {
                let r: Result<(), Error> = handle.call("release", &(owner,)).await;
                check!(r.is_ok(), "{what}: release: {r:?}");
            }
            let locked: bool = handle.call("locked", &(owner,)).await.unwrap();
            check!(locked == held, "{what}: locked is {locked}");
        }
        Op::Semaphore { bounded: bound, initial, blocking, t, release } => {
            let handle = if bound {
                bounded(&what, client.bounded_semaphore(initial)).await.unwrap().handle().clone()
            } else {
                bounded(&what, client.semaphore(initial)).await.unwrap().handle().clone()
            };
            let r: Result<bool, Error> = bounded(&what, handle.call("acquire", &(blocking, t))).await;
            answered(&what, &r)?;
            let mut value = initial;
            if !valid(t) || (!blocking && t.is_some()) {
                check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: acquire: {r:?}");
            } else {
                check!(r.as_ref().ok() == Some(&(initial > 0)), "{what}: acquire: {r:?}");
                value -= u64::from(initial > 0);
            }
            let r: Result<(), Error> = bounded(&what, handle.call("release", &(release,))).await;
            answered(&what, &r)?;
            let k = kind(&r);
            let sum = value as u128 + release as u128;
            if release == 0 {
                check!(k == Some(RemoteErrorKind::InvalidValue), "{what}: release(0): {r:?}");
            } else if bound && sum > initial as u128 {
                check!(k == Some(RemoteErrorKind::InvalidValue), "{what}: past the bound: {r:?}");
            } else if sum > u64::MAX as u128 {
                check!(is_overflow(k), "{what}: past u64::MAX: {r:?}");
            } else {
                check!(r.is_ok(), "{what}: release: {r:?}");
                value = sum as u64;
            }
            let now: u64 = bounded("value()", handle.call("value", &())).await.unwrap();
            check!(now == value, "{what}: value {now}, expected {value}");
        }
        Op::ConditionAcquire { owner, held, blocking, t } => {
            let handle = client.condition().await.unwrap().handle().clone();
            let other = owner ^ 1;
            if held {
                let got: bool = handle.call("acquire", &(other, true, None::<f64>)).await.unwrap();
                check!(got, "the holder's acquire");
            }
            let r: Result<bool, Error> = bounded(&what, handle.call("acquire", &(owner, blocking, t))).await;
            answered(&what, &r)?;
            if !valid(t) || (!blocking && t.is_some()) {
                check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}");
            } else {
                check!(r.as_ref().ok() == Some(&!held), "{what}: {r:?}");
            }
            let holder = if held { other } else { owner };
            if held || r.as_ref().is_ok_and(|&got| got) {
                let r: Result<(), Error> = handle.call("notify", &(holder, 1u64)).await;
                check!(r.is_ok(), "{what}: the holder notifies: {r:?}");
                let r: Result<(), Error> = handle.call("release", &(holder,)).await;
                check!(r.is_ok(), "{what}: the holder releases: {r:?}");
            }
        }
        Op::ConditionWait { owner, t } => {
            let cond = client.condition().await.unwrap();
            let handle = cond.handle().clone();
            let got: bool = handle.call("acquire", &(owner, true, None::<f64>)).await.unwrap();
            check!(got, "acquire");
            let waiter = {
                let handle = handle.clone();
                tokio::spawn(async move { handle.call::<_, bool>("wait", &(owner, t)).await })
            };
            if valid(t) && long(t) {
                // Wake it, from another owner, once it waits.
                let stats = client.clone();
                check!(
                    crate::util::eventually(HANG, async || stats.stats().await.unwrap().parked_calls >= 1).await,
                    "{what}: the wait never parked"
                );
                let other = owner ^ 1;
                let _: bool = bounded(&what, handle.call("acquire", &(other, true, None::<f64>))).await.unwrap();
                let _: () = handle.call("notify", &(other, 1u64)).await.unwrap();
                let _: () = handle.call("release", &(other,)).await.unwrap();
            }
            let r = bounded(&what, waiter).await.unwrap();
            answered(&what, &r)?;
            if !valid(t) {
                check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}");
            } else {
                check!(r.as_ref().ok() == Some(&long(t)), "{what}: {r:?}");
            }
            // The owner holds the lock again (or never let go) and can release it.
            let r: Result<(), Error> = handle.call("release", &(owner,)).await;
            check!(r.is_ok(), "{what}: release after the wait: {r:?}");
        }
        Op::ConditionNotify { owner, n } => {
            let handle = client.condition().await.unwrap().handle().clone();
            let r: Result<(), Error> = bounded(&what, handle.call("notify", &(owner, n))).await;
            check!(kind(&r) == Some(RemoteErrorKind::NotOwner), "{what} without the lock: {r:?}");
            let _: bool = handle.call("acquire", &(owner, true, None::<f64>)).await.unwrap();
            let r: Result<(), Error> = bounded(&what, handle.call("notify", &(owner, n))).await;
            answered(&what, &r)?;
            check!(r.is_ok(), "{what}: {r:?}");
            let _: () = handle.call("release", &(owner,)).await.unwrap();
        }
        Op::EventWait { set, t } => {
            let e = client.event().await.unwrap();
            if set {
                e.set().await.unwrap();
            }
            let r: Result<bool, Error> = bounded(&what, e.handle().call("wait", &(t,))).await;
            answered(&what, &r)?;
            if valid(t) {
                check!(r.as_ref().ok() == Some(&set), "{what}: {r:?}");
            } else {
                check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}");
            }
            check!(e.is_set().await.unwrap() == set, "{what}");
        }
        Op::Barrier { parties, default, t } => {
            let r: Result<manager_client::BarrierProxy, Error> = bounded(
                &what,
                manager_client::proto::Connect::create_object(
                    client,
                    manager_client::proto::builtin::BARRIER,
                    "",
                    manager_client::proto::postcard::to_allocvec(&(parties, default)).unwrap(),
                ),
            )
            .await
            .map(manager_client::BarrierProxy::from_handle);
            answered(&what, &r)?;
            if parties == 0 || !valid(default) {
                check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}");
                return Ok(());
            }
            let b = r.map_err(|e| format!("{what}: {e:?}"))?;
            let effective = t.or(default);
            let waits = parties == 1 || !(valid(t) && long(effective));
            if waits {
                let r: Result<u64, Error> = bounded(&what, b.handle().call("wait", &(t,))).await;
                answered(&what, &r)?;
                if !valid(t) {
                    check!(kind(&r) == Some(RemoteErrorKind::InvalidValue), "{what}: {r:?}");
                } else if parties == 1 {
                    check!(r.as_ref().ok() == Some(&0), "{what}: {r:?}");
                } else {
                    check!(kind(&r) == Some(RemoteErrorKind::BrokenBarrier), "{what}: {r:?}");
                }
            }
            check!(b.parties().await.unwrap() == parties, "{what}: parties");
            check!(b.n_waiting().await.unwrap() == 0, "{what}: n_waiting");
            b.reset().await.unwrap();
            check!(!b.broken().await.unwrap(), "{what}: reset");
        }
    }
    Ok(())
}

#[test]
fn every_numeric_argument_at_its_edges_is_answered_and_never_panics() {
    let server = ServerChild::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let client = rt.block_on(server.client());
    let config = ProptestConfig {
        cases: 1024,
        // Each case is one call on fresh objects, already minimal; a hang would only
        // repeat while shrinking.
        max_shrink_iters: 0,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let cases = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&op(), |op| {
        cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(async {
            run(&client, &op).await?;
            // The server still serves everyone.
            bounded("a ping after the case", client.ping()).await.map_err(|e| format!("ping after {op:?}: {e:?}"))
        })
        .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}\nthe server's log:\n{}", server.log());
    }
    eprintln!("{} adversarial cases answered", cases.into_inner());
}

/// Slices and their assignments, for every start, stop and step in a set of edges, on a
/// list and an array of three, against Python's `slice.indices`.
#[test]
fn every_slice_at_the_edges_is_pythons() {
    let server = ServerChild::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let client = server.client().await;
        let edges = [None, Some(0), Some(1), Some(-1), Some(2), Some(-4), Some(i64::MIN), Some(i64::MAX)];
        let steps = [None, Some(0), Some(1), Some(-1), Some(2), Some(-2), Some(i64::MIN), Some(i64::MAX)];
        let mut tasks = Vec::new();
        for step in steps {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let list = client.list_from(&LIST).await.unwrap();
                let array = client.array(&LIST).await.unwrap();
                for start in edges {
                    for stop in edges {
                        let case = format!("[10, 11, 12][{start:?}:{stop:?}:{step:?}]");
                        let expected =
                            py_slice(3, start, stop, step).map(|at| at.iter().map(|&p| LIST[p]).collect::<Vec<u32>>());
                        for (kind_of, got) in [
                            ("list", bounded(&case, list.slice(start, stop, step)).await),
                            ("array", bounded(&case, array.slice(start, stop, step)).await),
                        ] {
                            match &expected {
                                Some(e) => assert_eq!(got.as_ref().ok(), Some(e), "{kind_of}{case}: {got:?}"),
                                None => assert_eq!(kind(&got), Some(RemoteErrorKind::InvalidValue), "{case}"),
                            }
                        }
                        let r = bounded(&case, list.delete_slice(start, stop, step)).await;
                        assert!(r.is_ok() == expected.is_some(), "del list{case}: {r:?}");
                        let left = list.snapshot().await.unwrap();
                        let kept: Vec<u32> = LIST
                            .iter()
                            .copied()
                            .filter(|v| !expected.as_ref().is_some_and(|e| e.contains(v)))
                            .collect();
                        assert_eq!(left, kept, "del list{case}");
                        list.set_slice(None, None, LIST.to_vec()).await.unwrap();
                        if let Some(e) = &expected {
                            let new: Vec<u32> = e.iter().map(|v| v + 100).collect();
                            let r = bounded(&case, array.set_slice(start, stop, step, new)).await;
                            assert!(r.is_ok(), "array{case} = ...: {r:?}");
                            let now = array.snapshot().await.unwrap();
                            let want: Vec<u32> =
                                LIST.iter().map(|v| if e.contains(v) { v + 100 } else { *v }).collect();
                            assert_eq!(now, want, "array{case} = ...");
                            array.set_slice(None, None, None, LIST.to_vec()).await.unwrap();
                        }
                    }
                }
            }));
        }
        for t in tasks {
            bounded("a sweep of slices", t).await.unwrap();
        }
    });
}
