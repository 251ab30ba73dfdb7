//! `Array`: a fixed-length sequence; its length never changes.

use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::budget::{Budgeted, decode_within};
use super::seq::{Slice, at, at_mut};
use super::{Element, args, encode, err, lock, methods, ready, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::ARRAY;

methods! {
    LEN = "len",
    GET = "get",
    SET = "set",
    SLICE = "slice",
    SET_SLICE = "set_slice",
    SNAPSHOT = "snapshot",
}

pub(crate) struct Array {
    items: Mutex<Vec<Element>>,
}

impl Array {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Array, RemoteError> {
        let (Budgeted(items),): (Budgeted<Item>,) = decode_within(bytes, "Array()", ctx.limits())?;
        Ok(Array { items: Mutex::new(Element::take_all(items, ctx)?) })
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            m::LEN => {
                let () = args(bytes, "Array.len")?;
                encode(&(lock(&self.items).len() as u64))
            }
            m::GET => {
                let (i,): (i64,) = args(bytes, "Array.get")?;
                at(&lock(&self.items), i, "array")?.reply(ctx)
            }
            m::SET => {
                let (i, item): (i64, ItemRef<'_>) = args(bytes, "Array.set")?;
                let new = Element::take_ref(item, ctx)?;
                let mut items = lock(&self.items);
                let old = std::mem::replace(at_mut(&mut items, i, "array assignment")?, new);
                drop(items);
                drop(old);
                encode(&())
            }
            m::SLICE => {
                let (start, stop, step): (Option<i64>, Option<i64>, Option<i64>) = args(bytes, "Array.slice")?;
                let items = lock(&self.items);
                let slice = Slice::new(items.len(), start, stop, step)?;
                encode(&Element::to_items(slice.of(&items), ctx, "Array.slice")?)
            }
            m::SET_SLICE => {
                let (start, stop, step, Budgeted(new)): (Option<i64>, Option<i64>, Option<i64>, Budgeted<Item>) =
                    decode_within(bytes, "Array.set_slice", ctx.limits())?;
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
                encode(&())
            }
            m::SNAPSHOT => {
                let () = args(bytes, "Array.snapshot")?;
                encode(&Element::to_items(lock(&self.items).iter(), ctx, "Array.snapshot")?)
            }
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown Array method")),
        }
    }
}

impl ServerObject for Array {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, m::NAMES, m::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(Element::to_items(lock(&self.items).iter(), ctx, "the Array's value").and_then(|items| encode(&items)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
