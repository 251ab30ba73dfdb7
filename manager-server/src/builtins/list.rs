//! `list`: Python's indexing (negative indexes count from the end; out of range is an
//! error) and slicing (clamped, with steps).

use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::budget::{self, Budgeted, decode_within};
use super::seq::{Slice, at, at_mut, index, insertion_point};
use super::{Element, args, encode, err, lock, methods, ready, resolve};
use crate::object::CallContext;
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
    /// nothing changed meanwhile. Wraps after 2^64 changes, which is as good as never.
    version: u64,
}

impl State {
    fn changed(&mut self) {
        self.version = self.version.wrapping_add(1);
    }
}

pub(crate) struct List {
    state: Mutex<State>,
}

type Bounds = (Option<i64>, Option<i64>, Option<i64>);

impl List {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<List, RemoteError> {
        let (Budgeted(items),): (Budgeted<Item>,) = decode_within(bytes, "list()", ctx.limits())?;
        Ok(List { state: Mutex::new(State { items: Element::take_all(items, ctx)?, version: 0 }) })
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            m::GET => {
                let (i,): (i64,) = args(bytes, "list.get")?;
                at(&lock(&self.state).items, i, "list")?.reply(ctx)
            }
            m::SET => {
                let (i, item): (i64, ItemRef<'_>) = args(bytes, "list.set")?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                let old = std::mem::replace(at_mut(&mut st.items, i, "list assignment")?, element);
                st.changed();
                drop(st);
                drop(old);
                encode(&())
            }
            m::DELETE => {
                let (i,): (i64,) = args(bytes, "list.delete")?;
                let mut st = lock(&self.state);
                let at = index(st.items.len(), i, "list assignment")?;
                let old = st.items.remove(at);
                st.changed();
                encode(&old.to_item(ctx)?)
            }
            m::SLICE => {
                let (start, stop, step): Bounds = args(bytes, "list.slice")?;
                let st = lock(&self.state);
                let slice = Slice::new(st.items.len(), start, stop, step)?;
                encode(&Element::to_items(slice.of(&st.items), ctx, "list.slice")?)
            }
            m::SET_SLICE => {
                // `l[start:stop] = items` (step 1): the range is replaced, any length.
                let (start, stop, Budgeted(items)): (Option<i64>, Option<i64>, Budgeted<Item>) =
                    decode_within(bytes, "list.set_slice", ctx.limits())?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                let range = Slice::range(st.items.len(), start, stop);
                let old: Vec<Element> = st.items.splice(range, new).collect();
                st.changed();
                drop(st);
                drop(old);
                encode(&())
            }
            m::DELETE_SLICE => {
                let (start, stop, step): Bounds = args(bytes, "list.delete_slice")?;
                let mut st = lock(&self.state);
                let slice = Slice::new(st.items.len(), start, stop, step)?;
                // One pass, whatever the slice: O(len).
                let (mut kept, mut old) = (Vec::with_capacity(st.items.len().saturating_sub(slice.len())), Vec::new());
                for (p, e) in std::mem::take(&mut st.items).into_iter().enumerate() {
                    if slice.contains(p) { old.push(e) } else { kept.push(e) }
                }
                st.items = kept;
                st.changed();
                drop(st);
                drop(old);
                encode(&())
            }
            m::APPEND => {
                let (item,): (ItemRef<'_>,) = args(bytes, "list.append")?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                st.items.push(element);
                st.changed();
                encode(&())
            }
            m::EXTEND => {
                let (Budgeted(items),): (Budgeted<Item>,) = decode_within(bytes, "list.extend", ctx.limits())?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                st.items.extend(new);
                st.changed();
                encode(&())
            }
            m::INSERT => {
                // Python clamps the position instead of failing.
                let (i, item): (i64, ItemRef<'_>) = args(bytes, "list.insert")?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                let at = insertion_point(st.items.len(), i);
                st.items.insert(at, element);
                st.changed();
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
                st.changed();
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
                st.changed();
                drop(st);
                drop(old);
                encode(&())
            }
            m::INDEX => {
                let (item, start, stop): (Item, Option<i64>, Option<i64>) = args(bytes, "list.index")?;
                let st = lock(&self.state);
                let found = Slice::range(st.items.len(), start, stop)
                    .find(|&p| st.items.get(p).is_some_and(|e| e.bytes == item.bytes))
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
                st.changed();
                encode(&())
            }
            m::REPEAT => {
                // `l *= n`: the elements repeated; a repeated proxy holds one more reference.
                let (n,): (u64,) = args(bytes, "list.repeat")?;
                let mut st = lock(&self.state);
                if n == 0 {
                    let old = std::mem::take(&mut st.items);
                    st.changed();
                    drop(st);
                    drop(old);
                    return encode(&());
                }
                if st.items.is_empty() {
                    return encode(&());
                }
                // What the copies cost, checked before any is made.
                let once = st.items.iter().fold(0usize, |sum, e| sum.saturating_add(e.footprint()));
                let extra = usize::try_from(n.saturating_sub(1)).ok();
                budget::check(&format!("list.repeat({n})"), extra.and_then(|x| once.checked_mul(x)), ctx.limits())?;
                let extra = extra.unwrap_or(0);
                let original = st.items.len();
                let mut copies = Vec::with_capacity(original.saturating_mul(extra));
                for _ in 0..extra {
                    for e in &st.items {
                        copies.push(e.duplicate(ctx)?);
                    }
                }
                st.items.append(&mut copies);
                st.changed();
                encode(&())
            }
            m::CLEAR => {
                let () = args(bytes, "list.clear")?;
                let mut st = lock(&self.state);
                let old = std::mem::take(&mut st.items);
                st.changed();
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
                encode(&Element::to_items(lock(&self.state).items.iter(), ctx, "list.snapshot")?)
            }
            m::VERSIONED => {
                let () = args(bytes, "list.versioned")?;
                let st = lock(&self.state);
                encode(&(st.version, Element::to_items(st.items.iter(), ctx, "list.versioned")?))
            }
            m::REPLACE_IF => {
                let (version, Budgeted(items)): (u64, Budgeted<Item>) =
                    decode_within(bytes, "list.replace_if", ctx.limits())?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                if st.version != version {
                    return encode(&false);
                }
                let old = std::mem::replace(&mut st.items, new);
                st.changed();
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
        ready(
            Element::to_items(lock(&self.state).items.iter(), ctx, "the list's value").and_then(|items| encode(&items)),
        )
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
