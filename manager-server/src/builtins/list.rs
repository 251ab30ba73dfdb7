//! `list`: Python's indexing (negative indexes count from the end; out of range is an
//! error) and slicing (clamped, with steps).

use manager_proto::builtin::list as l;
use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::stream::{Batch, BoxSource, ItemSource};
use manager_proto::watch::ListChange;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use super::budget::{self, Budgeted};
use super::seq::{Slice, at, index, insertion_point};
use super::watch::{Watched, Watchers, item_of};
use super::{Element, args, args_within, encode, err, lock, new_within, ready, reply, resolve, stream_method};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::LIST;

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
    watchers: Watchers,
}

type Bounds = (Option<i64>, Option<i64>, Option<i64>);

impl List {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<List, RemoteError> {
        let (Budgeted(items),): (Budgeted<Item>,) = new_within::<l::New, _>(bytes, l::NEW, ctx)?;
        let state = Mutex::new(State { items: Element::take_all(items, ctx)?, version: 0 });
        Ok(List { state, watchers: Watchers::default() })
    }

    /// Tells watchers of a splice: at `index`, `removed` elements gave way to the
    /// `inserted` now there.
    fn emit(&self, st: &State, ctx: &CallContext, index: usize, removed: usize, inserted: usize) {
        self.watchers.emit(ctx, || {
            let new = st.items.get(index..index.saturating_add(inserted)).unwrap_or_default();
            let ids = new.iter().flat_map(|e| e.refs.ids().iter().copied()).collect();
            (ListChange { index, removed, inserted: new.iter().map(item_of).collect() }, ids)
        });
    }

    /// Tells watchers every element may have moved: the `before` there were are now
    /// the elements there are.
    fn emit_all(&self, st: &State, ctx: &CallContext, before: usize) {
        self.emit(st, ctx, 0, before, st.items.len());
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            l::Get::ID => {
                let (i,): (i64,) = args::<l::Get, _>(bytes)?;
                at(&lock(&self.state).items, i, "list")?.reply::<l::Get>(ctx)
            }
            l::Set::ID => {
                let ((i,), item, ()): ((i64,), ItemRef<'_>, ()) = args::<l::Set, _>(bytes)?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                let at = index(st.items.len(), i, "list assignment")?;
                let slot =
                    st.items.get_mut(at).ok_or_else(|| err(RemoteErrorKind::IndexOutOfRange, "list assignment"))?;
                let old = std::mem::replace(slot, element);
                st.changed();
                self.emit(&st, ctx, at, 1, 1);
                drop(st);
                drop(old);
                reply::<l::Set>(&())
            }
            l::Delete::ID => {
                let (i,): (i64,) = args::<l::Delete, _>(bytes)?;
                let mut st = lock(&self.state);
                let at = index(st.items.len(), i, "list assignment")?;
                let old = st.items.remove(at);
                st.changed();
                self.emit(&st, ctx, at, 1, 0);
                reply::<l::Delete>(&old.to_item(ctx)?)
            }
            l::Slice::ID => {
                let (start, stop, step): Bounds = args::<l::Slice, _>(bytes)?;
                let st = lock(&self.state);
                let slice = Slice::new(st.items.len(), start, stop, step)?;
                reply::<l::Slice>(&Element::to_items(slice.of(&st.items), ctx, l::Slice::WHAT)?)
            }
            l::SetSlice::ID => {
                // `l[start:stop] = items` (step 1): the range is replaced, any length.
                let (start, stop, Budgeted(items)): (Option<i64>, Option<i64>, Budgeted<Item>) =
                    args_within::<l::SetSlice, _>(bytes, ctx)?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                let range = Slice::range(st.items.len(), start, stop);
                let (at, added) = (range.start, new.len());
                let old: Vec<Element> = st.items.splice(range, new).collect();
                st.changed();
                self.emit(&st, ctx, at, old.len(), added);
                drop(st);
                drop(old);
                reply::<l::SetSlice>(&())
            }
            l::DeleteSlice::ID => {
                let (start, stop, step): Bounds = args::<l::DeleteSlice, _>(bytes)?;
                let mut st = lock(&self.state);
                let slice = Slice::new(st.items.len(), start, stop, step)?;
                // One pass, whatever the slice: O(len).
                let (mut kept, mut old) = (Vec::with_capacity(st.items.len().saturating_sub(slice.len())), Vec::new());
                for (p, e) in std::mem::take(&mut st.items).into_iter().enumerate() {
                    if slice.contains(p) { old.push(e) } else { kept.push(e) }
                }
                st.items = kept;
                st.changed();
                self.emit_all(&st, ctx, st.items.len().saturating_add(old.len()));
                drop(st);
                drop(old);
                reply::<l::DeleteSlice>(&())
            }
            l::Append::ID => {
                let ((), item, ()): ((), ItemRef<'_>, ()) = args::<l::Append, _>(bytes)?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                st.items.push(element);
                st.changed();
                self.emit(&st, ctx, st.items.len().saturating_sub(1), 0, 1);
                reply::<l::Append>(&())
            }
            l::Extend::ID => {
                let (Budgeted(items),): (Budgeted<Item>,) = args_within::<l::Extend, _>(bytes, ctx)?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                let (at, added) = (st.items.len(), new.len());
                st.items.extend(new);
                st.changed();
                self.emit(&st, ctx, at, 0, added);
                reply::<l::Extend>(&())
            }
            l::Insert::ID => {
                // Python clamps the position instead of failing.
                let ((i,), item, ()): ((i64,), ItemRef<'_>, ()) = args::<l::Insert, _>(bytes)?;
                let element = Element::take_ref(item, ctx)?;
                let mut st = lock(&self.state);
                let at = insertion_point(st.items.len(), i);
                st.items.insert(at, element);
                st.changed();
                self.emit(&st, ctx, at, 0, 1);
                reply::<l::Insert>(&())
            }
            l::Pop::ID => {
                let (i,): (Option<i64>,) = args::<l::Pop, _>(bytes)?;
                let mut st = lock(&self.state);
                if st.items.is_empty() {
                    return Err(err(RemoteErrorKind::IndexOutOfRange, "pop from empty list"));
                }
                let at = index(st.items.len(), i.unwrap_or(-1), "pop")?;
                let old = st.items.remove(at);
                st.changed();
                self.emit(&st, ctx, at, 1, 0);
                reply::<l::Pop>(&old.to_item(ctx)?)
            }
            l::Remove::ID => {
                let (item,): (Item,) = args::<l::Remove, _>(bytes)?;
                let mut st = lock(&self.state);
                let at = st
                    .items
                    .iter()
                    .position(|e| e.bytes == item.bytes)
                    .ok_or_else(|| err(RemoteErrorKind::InvalidValue, "list.remove(x): x not in list"))?;
                let old = st.items.remove(at);
                st.changed();
                self.emit(&st, ctx, at, 1, 0);
                drop(st);
                drop(old);
                reply::<l::Remove>(&())
            }
            l::Index::ID => {
                let (item, start, stop): (Item, Option<i64>, Option<i64>) = args::<l::Index, _>(bytes)?;
                let st = lock(&self.state);
                let found = Slice::range(st.items.len(), start, stop)
                    .find(|&p| st.items.get(p).is_some_and(|e| e.bytes == item.bytes))
                    .ok_or_else(|| err(RemoteErrorKind::InvalidValue, "x is not in list"))?;
                reply::<l::Index>(&(found as u64))
            }
            l::Count::ID => {
                let (item,): (Item,) = args::<l::Count, _>(bytes)?;
                let n = lock(&self.state).items.iter().filter(|e| e.bytes == item.bytes).count();
                reply::<l::Count>(&(n as u64))
            }
            l::Contains::ID => {
                let (item,): (Item,) = args::<l::Contains, _>(bytes)?;
                reply::<l::Contains>(&lock(&self.state).items.iter().any(|e| e.bytes == item.bytes))
            }
            l::Reverse::ID => {
                let () = args::<l::Reverse, _>(bytes)?;
                let mut st = lock(&self.state);
                st.items.reverse();
                st.changed();
                self.emit_all(&st, ctx, st.items.len());
                reply::<l::Reverse>(&())
            }
            l::Repeat::ID => {
                // `l *= n`: the elements repeated; a repeated proxy holds one more reference.
                let (n,): (u64,) = args::<l::Repeat, _>(bytes)?;
                let mut st = lock(&self.state);
                if n == 0 {
                    let old = std::mem::take(&mut st.items);
                    st.changed();
                    self.emit(&st, ctx, 0, old.len(), 0);
                    drop(st);
                    drop(old);
                    return reply::<l::Repeat>(&());
                }
                if st.items.is_empty() {
                    return reply::<l::Repeat>(&());
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
                let added = copies.len();
                st.items.append(&mut copies);
                st.changed();
                self.emit(&st, ctx, original, 0, added);
                reply::<l::Repeat>(&())
            }
            l::Clear::ID => {
                let () = args::<l::Clear, _>(bytes)?;
                let mut st = lock(&self.state);
                let old = std::mem::take(&mut st.items);
                st.changed();
                self.emit(&st, ctx, 0, old.len(), 0);
                drop(st);
                drop(old);
                reply::<l::Clear>(&())
            }
            l::Len::ID => {
                let () = args::<l::Len, _>(bytes)?;
                reply::<l::Len>(&(lock(&self.state).items.len() as u64))
            }
            l::Snapshot::ID => {
                let () = args::<l::Snapshot, _>(bytes)?;
                reply::<l::Snapshot>(&Element::to_items(lock(&self.state).items.iter(), ctx, l::Snapshot::WHAT)?)
            }
            l::Versioned::ID => {
                let () = args::<l::Versioned, _>(bytes)?;
                let st = lock(&self.state);
                reply::<l::Versioned>(&(st.version, Element::to_items(st.items.iter(), ctx, l::Versioned::WHAT)?))
            }
            l::ReplaceIf::ID => {
                let (version, Budgeted(items)): (u64, Budgeted<Item>) = args_within::<l::ReplaceIf, _>(bytes, ctx)?;
                let new = Element::take_all(items, ctx)?;
                let mut st = lock(&self.state);
                if st.version != version {
                    return reply::<l::ReplaceIf>(&false);
                }
                let old = std::mem::replace(&mut st.items, new);
                st.changed();
                self.emit_all(&st, ctx, old.len());
                drop(st);
                drop(old);
                reply::<l::ReplaceIf>(&true)
            }
            l::Iter::ID => Err(stream_method(l::Iter::WHAT)),
            l::Watch::ID => Err(stream_method(l::Watch::WHAT)),
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown list method")),
        }
    }
}

/// A live iteration: the next index to send. Python's list iterator reads by index too,
/// so items set meanwhile are seen, items inserted before the cursor shift it, and the
/// iteration ends wherever the list ends when the cursor gets there.
struct Cursor {
    list: Arc<List>,
    at: usize,
    ctx: CallContext,
}

impl ItemSource for Cursor {
    fn poll_batch(
        &mut self,
        _: &mut Context<'_>,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Poll<Result<Batch, RemoteError>> {
        let st = lock(&self.list.state);
        let mut count = 0u32;
        while out.len() < budget
            && let Some(element) = st.items.get(self.at)
        {
            let item = element.as_item(&self.ctx)?;
            if let Err(e) = postcard::to_io(&item, &mut *out) {
                return Poll::Ready(Err(err(RemoteErrorKind::Decode, format!("a list element did not encode: {e}"))));
            }
            self.at = self.at.saturating_add(1);
            count = count.saturating_add(1);
        }
        Poll::Ready(Ok(if count == 0 { Batch::End } else { Batch::Items(count) }))
    }
}

impl Watched for List {
    fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    fn snapshot(&self, id: u64, ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
        let st = lock(&self.state);
        let events = self.watchers.resync(id, out);
        let items = Element::to_items(st.items.iter(), ctx, l::Watch::WHAT)?;
        super::watch::encode_state(&items, out)?;
        Ok(events)
    }
}

impl ServerObject for List {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(l::NAMES, l::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, l::NAMES, l::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn open(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Result<BoxSource, RemoteError> {
        match resolve(TYPE_ID, l::NAMES, l::IDS, method)? {
            l::Iter::ID => {
                let () = args::<l::Iter, _>(bytes)?;
                Ok(Box::new(Cursor { list: self, at: 0, ctx: ctx.clone() }))
            }
            l::Watch::ID => {
                let () = args::<l::Watch, _>(bytes)?;
                Ok(Watchers::subscribe(self, ctx))
            }
            id => Err(super::not_a_stream("list", l::NAMES, l::IDS, id)),
        }
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(
            Element::to_items(lock(&self.state).items.iter(), ctx, "the list's value").and_then(|items| encode(&items)),
        )
    }

    fn render(&self, types: &[&str], out: &mut manager_proto::repr::Repr) {
        let items = &lock(&self.state).items;
        super::render::sequence(
            out,
            "list",
            ("[", "]"),
            types.first().copied(),
            (items.len(), items.iter().map(|e| &e.bytes[..])),
        );
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        lock(&self.state).items.iter().for_each(|e| e.refs.report(out));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
