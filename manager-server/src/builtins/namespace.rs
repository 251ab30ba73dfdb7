//! `Namespace`: named attributes of any type.

use manager_proto::builtin::namespace as n;
use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::budget::{self, Budgeted};
use super::{Element, args, encode, err, lock, new_within, ready, reply, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::NAMESPACE;

pub(crate) struct Namespace {
    attrs: Mutex<BTreeMap<String, Element>>,
}

fn no_attribute(name: &str) -> RemoteError {
    err(RemoteErrorKind::KeyNotFound, format!("'Namespace' object has no attribute '{name}'"))
}

/// Refuses a name starting with `_`. Python keeps such attributes on the proxy, local to
/// one process; sharing them instead would change what a program ported from Python
/// means, and keeping them local would make one proxy type behave two ways. So they
/// are refused, saying why.
fn check_name(name: &str) -> Result<(), RemoteError> {
    if name.starts_with('_') {
        return Err(err(
            RemoteErrorKind::InvalidValue,
            format!(
                "Namespace attribute `{name}`: names starting with `_` are not shared (Python keeps them local \
                 to the proxy); use a name without the leading underscore"
            ),
        ));
    }
    Ok(())
}

impl Namespace {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Namespace, RemoteError> {
        let (Budgeted(attrs),): (Budgeted<(String, Item)>,) = new_within::<n::New, _>(bytes, n::NEW, ctx)?;
        let attrs = attrs
            .into_iter()
            .map(|(name, item)| {
                check_name(&name)?;
                Ok((name, Element::take(item, ctx)?))
            })
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
            n::Get::ID => {
                let (name,): (String,) = args::<n::Get, _>(bytes)?;
                let attrs = lock(&self.attrs);
                attrs.get(&name).ok_or_else(|| no_attribute(&name))?.reply::<n::Get>(ctx)
            }
            n::Set::ID => {
                let ((name,), item, ()): ((String,), ItemRef<'_>, ()) = args::<n::Set, _>(bytes)?;
                check_name(&name)?;
                let element = Element::take_ref(item, ctx)?;
                let old = lock(&self.attrs).insert(name, element);
                drop(old);
                reply::<n::Set>(&())
            }
            n::Delete::ID => {
                let (name,): (String,) = args::<n::Delete, _>(bytes)?;
                let old = lock(&self.attrs).remove(&name).ok_or_else(|| no_attribute(&name))?;
                drop(old);
                reply::<n::Delete>(&())
            }
            n::Contains::ID => {
                let (name,): (String,) = args::<n::Contains, _>(bytes)?;
                reply::<n::Contains>(&lock(&self.attrs).contains_key(&name))
            }
            n::Names::ID => {
                let () = args::<n::Names, _>(bytes)?;
                let attrs = lock(&self.attrs);
                let size = attrs.keys().fold(10usize, |sum, n| sum.saturating_add(n.len()).saturating_add(10));
                if size > ctx.limits().max_reply {
                    return Err(budget::too_large("Namespace.names", ctx.limits()));
                }
                reply::<n::Names>(&attrs.keys().cloned().collect::<Vec<_>>())
            }
            n::Items::ID => {
                let () = args::<n::Items, _>(bytes)?;
                reply::<n::Items>(&self.items(ctx, "Namespace.items")?)
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
        ready(resolve(TYPE_ID, n::NAMES, n::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(self.items(ctx, "the Namespace's value").and_then(|items| encode(&items)))
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        lock(&self.attrs).values().for_each(|e| e.refs.report(out));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
