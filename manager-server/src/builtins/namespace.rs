//! `Namespace`: named attributes of any type.

use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::budget::{self, Budgeted, decode_within};
use super::{Element, args, encode, err, lock, methods, ready, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::NAMESPACE;

methods! {
    GET = "get",
    SET = "set",
    DELETE = "delete",
    CONTAINS = "contains",
    ATTR_NAMES = "names",
    ITEMS = "items",
}

pub(crate) struct Namespace {
    attrs: Mutex<BTreeMap<String, Element>>,
}

fn no_attribute(name: &str) -> RemoteError {
    err(RemoteErrorKind::KeyNotFound, format!("'Namespace' object has no attribute '{name}'"))
}

impl Namespace {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Namespace, RemoteError> {
        let (Budgeted(attrs),): (Budgeted<(String, Item)>,) = decode_within(bytes, "Namespace()", ctx.limits())?;
        let attrs = attrs
            .into_iter()
            .map(|(name, item)| Ok((name, Element::take(item, ctx)?)))
            .collect::<Result<_, RemoteError>>()?;
        Ok(Namespace { attrs: Mutex::new(attrs) })
    }

    /// Every attribute as sent to the caller (checked to fit in one reply first).
    fn items(&self, ctx: &CallContext, what: &str) -> Result<Vec<(String, Item)>, RemoteError> {
        let attrs = lock(&self.attrs);
        let size =
            attrs.iter().fold(10usize, |sum, (n, e)| sum.saturating_add(n.len()).saturating_add(e.encoded_len()));
        if size > ctx.limits().max_reply {
            return Err(budget::too_large(what, ctx.limits()));
        }
        attrs.iter().map(|(n, e)| Ok((n.clone(), e.to_item(ctx)?))).collect()
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            m::GET => {
                let (name,): (String,) = args(bytes, "Namespace.get")?;
                let attrs = lock(&self.attrs);
                attrs.get(&name).ok_or_else(|| no_attribute(&name))?.reply(ctx)
            }
            m::SET => {
                let (name, item): (String, ItemRef<'_>) = args(bytes, "Namespace.set")?;
                let element = Element::take_ref(item, ctx)?;
                let old = lock(&self.attrs).insert(name, element);
                drop(old);
                encode(&())
            }
            m::DELETE => {
                let (name,): (String,) = args(bytes, "Namespace.delete")?;
                let old = lock(&self.attrs).remove(&name).ok_or_else(|| no_attribute(&name))?;
                drop(old);
                encode(&())
            }
            m::CONTAINS => {
                let (name,): (String,) = args(bytes, "Namespace.contains")?;
                encode(&lock(&self.attrs).contains_key(&name))
            }
            m::ATTR_NAMES => {
                let () = args(bytes, "Namespace.names")?;
                let attrs = lock(&self.attrs);
                let size = attrs.keys().fold(10usize, |sum, n| sum.saturating_add(n.len()).saturating_add(10));
                if size > ctx.limits().max_reply {
                    return Err(budget::too_large("Namespace.names", ctx.limits()));
                }
                encode(&attrs.keys().cloned().collect::<Vec<_>>())
            }
            m::ITEMS => {
                let () = args(bytes, "Namespace.items")?;
                encode(&self.items(ctx, "Namespace.items")?)
            }
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown Namespace method")),
        }
    }
}

impl ServerObject for Namespace {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, m::NAMES, m::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(self.items(ctx, "the Namespace's value").and_then(|items| encode(&items)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
