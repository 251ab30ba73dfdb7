//! `list`: Python's indexing (negative indexes count from the end; out of range is an
//! error) and slicing (clamped, with steps).

use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::{Element, args, encode, err, lock, methods, ready, resolve};
use crate::connection::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::LIST;

methods! {
    GET = "get",
    SET = "set",
    DELETE = "delete",
    SLICE = "slice",
    SET_SLICE = "set_slice",
    DELETE_SLICE = "delete_slice",
    APPEND = "append",
    EXTEND = "extend",
    INSERT = "insert",
    POP = "pop",
    REMOVE = "remove",
    INDEX = "index",
    COUNT = "count",
    CONTAINS = "contains",
    REVERSE = "reverse",
    REPEAT = "repeat",
    CLEAR = "clear",
    LEN = "len",
    SNAPSHOT = "snapshot",
    VERSIONED = "versioned",
    REPLACE_IF = "replace_if",
}

#[derive(Default)]
struct State {
    items: Vec<Element>,
    /// Bumped by every change: a client that sorts a snapshot stores the result only if
    /// nothing changed meanwhile.
    version: u64,
}

pub(crate) struct List {
    state: Mutex<State>,
}

fn out_of_range(what: &str) -> RemoteError {
    err(RemoteErrorKind::IndexOutOfRange, format!("{what} index out of range"))
}

/// A Python index into a sequence of `len`: negative counts from the end.
pub(crate) fn index(len: usize, i: i64, what: &str) -> Result<usize, RemoteError> {
    let len = len as i64;
    let i = if i < 0 { i + len } else { i };
    if (0..len).contains(&i) { Ok(i as usize) } else { Err(out_of_range(what)) }
}

/// The positions `seq[start:stop:step]` selects in a sequence of `len` (Python's
/// `slice.indices`).
pub(crate) fn slice_positions(
    len: usize,
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
) -> Result<Vec<usize>, RemoteError> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(err(RemoteErrorKind::InvalidValue, "slice step cannot be zero"));
    }
    let len = len as i64;
    let clamp = |v: Option<i64>, default: i64, lo: i64, hi: i64| match v {
        None => default,
        Some(v) if v < 0 => (v + len).max(lo),
        Some(v) => v.min(hi),
    };
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, stop) = (clamp(start, 0, 0, len), clamp(stop, len, 0, len));
        while i < stop {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, stop) = (clamp(start, len - 1, -1, len - 1), clamp(stop, -1, -1, len - 1));
        while i > stop {
            out.push(i as usize);
            i += step;
        }
    }
    Ok(out)
}

impl List {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<List, RemoteError> {
        let (items,): (Vec<Item>,) = args(bytes, "list()")?;
        Ok(List { state: Mutex::new(State { items: Element::take_all(items, ctx)?, version: 0 }) })
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            m::GET => {
                let (i,): (i64,) = args(bytes, "list.get")?;
                let st = lock(&self.state);
                st.items[index(st.items.len(), i, "list")?].reply(ctx)
            }
            m::SET => {
                let (i, item): (i64, ItemRef<'_>) = args(bytes, "list.set")?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                let at = index(st.items.len(), i, "list assignment")?;
                let old = std::mem::replace(&mut st.items[at], element);
                st.version += 1;
                drop(st);
                drop(old);
                encode(&())
            }
            m::DELETE => {
                let (i,): (i64,) = args(bytes, "list.delete")?;
                let mut st = lock(&self.state);
                let at = index(st.items.len(), i, "list assignment")?;
                let old = st.items.remove(at);
                st.version += 1;
                encode(&old.to_item(ctx)?)
            }
            m::SLICE => {
                let (start, stop, step): (Option<i64>, Option<i64>, Option<i64>) = args(bytes, "list.slice")?;
                let st = lock(&self.state);
                let positions = slice_positions(st.items.len(), start, stop, step)?;
                encode(&Element::to_items(positions.iter().map(|&p| &st.items[p]), ctx)?)
            }
            m::SET_SLICE => {
                // `l[start:stop] = items` (step 1): the range is replaced, any length.
                let (start, stop, items): (Option<i64>, Option<i64>, Vec<Item>) = args(bytes, "list.set_slice")?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                let positions = slice_positions(st.items.len(), start, stop, None)?;
                let from = positions.first().copied().unwrap_or_else(|| {
                    // An empty range still has a place: where `start` lands.
                    slice_positions(st.items.len(), start, None, None)
                        .ok()
                        .and_then(|p| p.first().copied())
                        .unwrap_or(st.items.len())
                });
                let old: Vec<Element> = st.items.splice(from..from + positions.len(), new).collect();
                st.version += 1;
                drop(st);
                drop(old);
                encode(&())
            }
            m::DELETE_SLICE => {
                let (start, stop, step): (Option<i64>, Option<i64>, Option<i64>) = args(bytes, "list.delete_slice")?;
                let mut st = lock(&self.state);
                let mut positions = slice_positions(st.items.len(), start, stop, step)?;
                positions.sort_unstable();
                let mut old = Vec::with_capacity(positions.len());
                for p in positions.into_iter().rev() {
                    old.push(st.items.remove(p));
                }
                st.version += 1;
                drop(st);
                drop(old);
                encode(&())
            }
            m::APPEND => {
                let (item,): (ItemRef<'_>,) = args(bytes, "list.append")?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                st.items.push(element);
                st.version += 1;
                encode(&())
            }
            m::EXTEND => {
                let (items,): (Vec<Item>,) = args(bytes, "list.extend")?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                st.items.extend(new);
                st.version += 1;
                encode(&())
            }
            m::INSERT => {
                // Python clamps the position instead of failing.
                let (i, item): (i64, ItemRef<'_>) = args(bytes, "list.insert")?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                let len = st.items.len() as i64;
                let at = if i < 0 { (i + len).max(0) } else { i.min(len) };
                st.items.insert(at as usize, element);
                st.version += 1;
                encode(&())
            }
            m::POP => {
                let (i,): (Option<i64>,) = args(bytes, "list.pop")?;
                let mut st = lock(&self.state);
                if st.items.is_empty() {
                    return Err(err(RemoteErrorKind::IndexOutOfRange, "pop from empty list"));
                }
                let at = index(st.items.len(), i.unwrap_or(-1), "pop")?;
                let old = st.items.remove(at);
                st.version += 1;
                encode(&old.to_item(ctx)?)
            }
            m::REMOVE => {
                let (item,): (Item,) = args(bytes, "list.remove")?;
                let mut st = lock(&self.state);
                let at = st
                    .items
                    .iter()
                    .position(|e| e.bytes == item.bytes)
                    .ok_or_else(|| err(RemoteErrorKind::InvalidValue, "list.remove(x): x not in list"))?;
                let old = st.items.remove(at);
                st.version += 1;
                drop(st);
                drop(old);
                encode(&())
            }
            m::INDEX => {
                let (item, start, stop): (Item, Option<i64>, Option<i64>) = args(bytes, "list.index")?;
                let st = lock(&self.state);
                let positions = slice_positions(st.items.len(), start, stop, None)?;
                let found = positions
                    .into_iter()
                    .find(|&p| st.items[p].bytes == item.bytes)
                    .ok_or_else(|| err(RemoteErrorKind::InvalidValue, "x is not in list"))?;
                encode(&(found as u64))
            }
            m::COUNT => {
                let (item,): (Item,) = args(bytes, "list.count")?;
                let n = lock(&self.state).items.iter().filter(|e| e.bytes == item.bytes).count();
                encode(&(n as u64))
            }
            m::CONTAINS => {
                let (item,): (Item,) = args(bytes, "list.contains")?;
                encode(&lock(&self.state).items.iter().any(|e| e.bytes == item.bytes))
            }
            m::REVERSE => {
                let () = args(bytes, "list.reverse")?;
                let mut st = lock(&self.state);
                st.items.reverse();
                st.version += 1;
                encode(&())
            }
            m::REPEAT => {
                // `l *= n`: the elements repeated; a repeated proxy holds one more reference.
                let (n,): (u64,) = args(bytes, "list.repeat")?;
                let mut st = lock(&self.state);
                if n == 0 {
                    let old = std::mem::take(&mut st.items);
                    st.version += 1;
                    drop(st);
                    drop(old);
                    return encode(&());
                }
                let extra = (n - 1) as usize;
                if st.items.len().saturating_mul(extra) > 16 * 1024 * 1024 {
                    return Err(err(RemoteErrorKind::LimitExceeded, "list.repeat would make the list too long"));
                }
                let original = st.items.len();
                for _ in 0..extra {
                    for i in 0..original {
                        let copy = st.items[i].duplicate(ctx)?;
                        st.items.push(copy);
                    }
                }
                st.version += 1;
                encode(&())
            }
            m::CLEAR => {
                let () = args(bytes, "list.clear")?;
                let mut st = lock(&self.state);
                let old = std::mem::take(&mut st.items);
                st.version += 1;
                drop(st);
                drop(old);
                encode(&())
            }
            m::LEN => {
                let () = args(bytes, "list.len")?;
                encode(&(lock(&self.state).items.len() as u64))
            }
            m::SNAPSHOT => {
                let () = args(bytes, "list.snapshot")?;
                encode(&Element::to_items(lock(&self.state).items.iter(), ctx)?)
            }
            m::VERSIONED => {
                let () = args(bytes, "list.versioned")?;
                let st = lock(&self.state);
                encode(&(st.version, Element::to_items(st.items.iter(), ctx)?))
            }
            m::REPLACE_IF => {
                let (version, items): (u64, Vec<Item>) = args(bytes, "list.replace_if")?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                if st.version != version {
                    return encode(&false);
                }
                let old = std::mem::replace(&mut st.items, new);
                st.version += 1;
                drop(st);
                drop(old);
                encode(&true)
            }
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown list method")),
        }
    }
}

impl ServerObject for List {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, m::NAMES, m::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(Element::to_items(lock(&self.state).items.iter(), ctx).and_then(|items| encode(&items)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(len: usize, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Vec<usize> {
        slice_positions(len, start, stop, step).unwrap()
    }

    #[test]
    fn slices_match_python() {
        // Checked against CPython: list(range(5))[a:b:c]
        assert_eq!(py(5, None, None, None), vec![0, 1, 2, 3, 4]);
        assert_eq!(py(5, Some(1), Some(3), None), vec![1, 2]);
        assert_eq!(py(5, Some(-2), None, None), vec![3, 4]);
        assert_eq!(py(5, None, Some(-1), None), vec![0, 1, 2, 3]);
        assert_eq!(py(5, Some(10), Some(20), None), Vec::<usize>::new());
        assert_eq!(py(5, None, None, Some(2)), vec![0, 2, 4]);
        assert_eq!(py(5, None, None, Some(-1)), vec![4, 3, 2, 1, 0]);
        assert_eq!(py(5, Some(3), Some(0), Some(-1)), vec![3, 2, 1]);
        assert_eq!(py(5, Some(-1), Some(-6), Some(-2)), vec![4, 2, 0]);
        assert_eq!(py(5, Some(-100), Some(100), None), vec![0, 1, 2, 3, 4]);
        assert_eq!(py(0, None, None, Some(-1)), Vec::<usize>::new());
        assert!(slice_positions(5, None, None, Some(0)).is_err());
    }

    #[test]
    fn indexes_match_python() {
        assert_eq!(index(3, -1, "list").unwrap(), 2);
        assert_eq!(index(3, 0, "list").unwrap(), 0);
        assert!(index(3, 3, "list").is_err());
        assert!(index(3, -4, "list").is_err());
        assert!(index(0, 0, "list").is_err());
    }
}
