//! `Namespace`: named attributes of any type.

use manager_proto::builtin::namespace as n;
use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::budget::{self, Budgeted};
use super::watch::{Watched, Watchers, item_of};
use super::{Element, args, encode, err, lock, new_within, ready, reply, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};
use manager_proto::stream::BoxSource;
use manager_proto::watch::NamespaceChange;

pub(crate) const TYPE_ID: &str = manager_proto::builtin::NAMESPACE;

pub(crate) struct Namespace {
    attrs: Mutex<BTreeMap<String, Element>>,
    watchers: Watchers,
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
        Ok(Namespace { attrs: Mutex::new(attrs), watchers: Watchers::default() })
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
                let mut attrs = lock(&self.attrs);
                self.watchers.emit(ctx, || {
                    let ids = element.refs.ids().to_vec();
                    (NamespaceChange::Set { name: name.clone(), value: item_of(&element) }, ids)
                });
                let old = attrs.insert(name, element);
                drop(attrs);
                drop(old);
                reply::<n::Set>(&())
            }
            n::Delete::ID => {
                let (name,): (String,) = args::<n::Delete, _>(bytes)?;
                let mut attrs = lock(&self.attrs);
                let old = attrs.remove(&name).ok_or_else(|| no_attribute(&name))?;
                self.watchers.emit(ctx, || (NamespaceChange::<ItemRef<'_>>::Removed { name }, Vec::new()));
                drop(attrs);
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
            n::Watch::ID => Err(super::stream_method(n::Watch::WHAT)),
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown Namespace method")),
        }
    }
}

impl Watched for Namespace {
    fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    fn snapshot(&self, id: u64, ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
        let attrs = lock(&self.attrs);
        let events = self.watchers.resync(id, out);
        let items =
            attrs.iter().map(|(n, e)| Ok((n.as_str(), e.as_item(ctx)?))).collect::<Result<Vec<_>, RemoteError>>()?;
        super::watch::encode_state(&items, out)?;
        Ok(events)
    }
}

impl ServerObject for Namespace {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(n::NAMES, n::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, n::NAMES, n::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(self.items(ctx, "the Namespace's value").and_then(|items| encode(&items)))
    }

    fn open(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Result<BoxSource, RemoteError> {
        match resolve(TYPE_ID, n::NAMES, n::IDS, method)? {
            n::Watch::ID => {
                let () = args::<n::Watch, _>(bytes)?;
                Ok(Watchers::subscribe(self, ctx))
            }
            id => Err(super::not_a_stream("Namespace", n::NAMES, n::IDS, id)),
        }
    }

    fn render(&self, _types: &[&str], out: &mut manager_proto::repr::Repr) {
        let attrs = lock(&self.attrs);
        let names: Vec<&str> = attrs.keys().map(String::as_str).collect();
        out.push(&format!("Namespace({})", names.join(", ")));
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        lock(&self.attrs).values().for_each(|e| e.refs.report(out));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
