//! `Array`: a fixed-length sequence; its length never changes.

use manager_proto::builtin::array as a;
use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::budget::Budgeted;
use super::seq::{Slice, at, at_mut};
use super::{Element, args, args_within, encode, err, lock, new_within, ready, reply, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::ARRAY;

pub(crate) struct Array {
    items: Mutex<Vec<Element>>,
}

impl Array {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Array, RemoteError> {
        let (Budgeted(items),): (Budgeted<Item>,) = new_within::<a::New, _>(bytes, a::NEW, ctx)?;
        Ok(Array { items: Mutex::new(Element::take_all(items, ctx)?) })
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            a::Len::ID => {
                let () = args::<a::Len, _>(bytes)?;
                reply::<a::Len>(&(lock(&self.items).len() as u64))
            }
            a::Get::ID => {
                let (i,): (i64,) = args::<a::Get, _>(bytes)?;
                at(&lock(&self.items), i, "array")?.reply::<a::Get>(ctx)
            }
            a::Set::ID => {
                let (i, item): (i64, ItemRef<'_>) = args::<a::Set, _>(bytes)?;
                let new = Element::take_ref(item, ctx)?;
                let mut items = lock(&self.items);
                let old = std::mem::replace(at_mut(&mut items, i, "array assignment")?, new);
                drop(items);
                drop(old);
                reply::<a::Set>(&())
            }
            a::Slice::ID => {
                let (start, stop, step): (Option<i64>, Option<i64>, Option<i64>) = args::<a::Slice, _>(bytes)?;
                let items = lock(&self.items);
                let slice = Slice::new(items.len(), start, stop, step)?;
                reply::<a::Slice>(&Element::to_items(slice.of(&items), ctx, "Array.slice")?)
            }
            a::SetSlice::ID => {
                let (start, stop, step, Budgeted(new)): (Option<i64>, Option<i64>, Option<i64>, Budgeted<Item>) =
                    args_within::<a::SetSlice, _>(bytes, ctx)?;
                let new = Element::take_all(new, ctx)?;
                let mut items = lock(&self.items);
                let slice = Slice::new(items.len(), start, stop, step)?;
                if slice.len() != new.len() {
                    return Err(err(
                        RemoteErrorKind::InvalidValue,
                        format!(
                            "an Array's length cannot change: the slice has {} elements, {} were given",
                            slice.len(),
                            new.len()
                        ),
                    ));
                }
                let mut old = Vec::with_capacity(new.len());
                for (p, e) in slice.positions().zip(new) {
                    if let Some(slot) = items.get_mut(p) {
                        old.push(std::mem::replace(slot, e));
                    }
                }
                drop(items);
                drop(old);
                reply::<a::SetSlice>(&())
            }
            a::Snapshot::ID => {
                let () = args::<a::Snapshot, _>(bytes)?;
                reply::<a::Snapshot>(&Element::to_items(lock(&self.items).iter(), ctx, "Array.snapshot")?)
            }
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown Array method")),
        }
    }
}

impl ServerObject for Array {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(a::NAMES, a::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, a::NAMES, a::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(Element::to_items(lock(&self.items).iter(), ctx, "the Array's value").and_then(|items| encode(&items)))
    }

    fn render(&self, types: &[&str], out: &mut manager_proto::repr::Repr) {
        let items = lock(&self.items);
        super::render::sequence(
            out,
            "Array",
            ("Array([", "])"),
            types.first().copied(),
            (items.len(), items.iter().map(|e| &e.bytes[..])),
        );
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        lock(&self.items).iter().for_each(|e| e.refs.report(out));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
