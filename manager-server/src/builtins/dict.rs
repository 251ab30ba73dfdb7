//! `dict`: insertion-ordered like Python's; keys compared by their encoding.

use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::budget::{self, Budgeted, decode_within};
use super::ordered::OrderedMap;
use super::{Element, Refs, args, encode, err, lock, methods, ready, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::DICT;

methods! {
    GET = "get",
    INSERT = "insert",
    REMOVE = "remove",
    CONTAINS = "contains",
    LEN = "len",
    KEYS = "keys",
    VALUES = "values",
    ITEMS = "items",
    POP = "pop",
    POP_OR = "pop_or",
    POPITEM = "popitem",
    SETDEFAULT = "setdefault",
    UPDATE = "update",
    CLEAR = "clear",
    MERGED = "merged",
}

/// One entry: the key's references and the value.
struct Entry {
    key_refs: Refs,
    value: Element,
}

pub(crate) struct Dict {
    /// By key encoding, in insertion order.
    map: Mutex<Map>,
}

type Pairs = Vec<(Item, Item)>;
type Map = OrderedMap<Entry>;

fn missing() -> RemoteError {
    err(RemoteErrorKind::KeyNotFound, "the key is not in the dict")
}

impl Dict {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Dict, RemoteError> {
        let (Budgeted(pairs),): (Budgeted<(Item, Item)>,) = decode_within(bytes, "dict()", ctx.limits())?;
        let dict = Dict { map: Mutex::new(Map::default()) };
        dict.update(pairs, ctx)?;
        Ok(dict)
    }

    fn update(&self, pairs: Pairs, ctx: &CallContext) -> Result<(), RemoteError> {
        // Take every reference first, so a bad pair changes nothing.
        let mut entries = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            entries.push((key.bytes, Refs::take(key.refs, ctx)?, Element::take(value, ctx)?));
        }
        let mut map = lock(&self.map);
        for (key, key_refs, value) in entries {
            map.insert(key, Entry { key_refs, value });
        }
        Ok(())
    }

    fn key_item(key: &[u8], entry: &Entry, ctx: &CallContext) -> Result<Item, RemoteError> {
        entry.key_refs.hand_out(ctx)?;
        Ok(Item { bytes: key.to_vec(), refs: entry.key_refs.ids().to_vec() })
    }

    /// Every entry as sent to the caller; `what` names the call, for the error when
    /// they would not fit in one reply (checked before any is copied).
    fn pairs(map: &Map, ctx: &CallContext, what: &str) -> Result<Pairs, RemoteError> {
        let mut size: usize = 10;
        for (k, e) in map.iter() {
            let key_len = k.len().saturating_add(10).saturating_add(e.key_refs.ids().len().saturating_mul(10));
            size = size.saturating_add(key_len).saturating_add(e.value.encoded_len());
            if size > ctx.limits().max_reply {
                return Err(budget::too_large(what, ctx.limits()));
            }
        }
        map.iter().map(|(k, e)| Ok((Self::key_item(k, e, ctx)?, e.value.to_item(ctx)?))).collect()
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            m::GET => {
                let (key,): (ItemRef<'_>,) = args(bytes, "dict.get")?;
                let map = lock(&self.map);
                match map.get(key.bytes) {
                    Some(e) => e.value.reply_some(ctx),
                    None => encode(&None::<ItemRef<'_>>),
                }
            }
            m::INSERT => {
                let (key, value): (Item, ItemRef<'_>) = args(bytes, "dict.insert")?;
                let key_refs = Refs::take(key.refs, ctx)?;
                let value = Element::take_ref(value, ctx)?;
                let old = lock(&self.map).insert(key.bytes, Entry { key_refs, value });
                encode(&old.as_ref().map(|e| e.value.as_item(ctx)).transpose()?)
            }
            m::REMOVE | m::POP => {
                let (key,): (ItemRef<'_>,) = args(bytes, "dict.pop")?;
                let (_, entry) = lock(&self.map).remove(key.bytes).ok_or_else(missing)?;
                entry.value.reply(ctx)
            }
            m::POP_OR => {
                let (key, default): (Item, Item) = args(bytes, "dict.pop_or")?;
                match lock(&self.map).remove(&key.bytes) {
                    Some((_, entry)) => encode(&entry.value.to_item(ctx)?),
                    // The default never entered the dict: hand its references back as they came.
                    None => encode(&Element::take(default, ctx)?.to_item(ctx)?),
                }
            }
            m::POPITEM => {
                let (key, entry) = lock(&self.map)
                    .pop_last()
                    .ok_or_else(|| err(RemoteErrorKind::KeyNotFound, "popitem(): dictionary is empty"))?;
                encode(&(Self::key_item(&key, &entry, ctx)?, entry.value.to_item(ctx)?))
            }
            m::SETDEFAULT => {
                let (key, default): (Item, Item) = args(bytes, "dict.setdefault")?;
                let mut map = lock(&self.map);
                if let Some(e) = map.get(&key.bytes) {
                    return encode(&e.value.to_item(ctx)?);
                }
                let entry = Entry { key_refs: Refs::take(key.refs, ctx)?, value: Element::take(default, ctx)? };
                let item = entry.value.to_item(ctx)?;
                map.insert(key.bytes, entry);
                encode(&item)
            }
            m::CONTAINS => {
                let (key,): (ItemRef<'_>,) = args(bytes, "dict.contains")?;
                encode(&lock(&self.map).contains_key(key.bytes))
            }
            m::LEN => {
                let () = args(bytes, "dict.len")?;
                encode(&(lock(&self.map).len() as u64))
            }
            m::KEYS => {
                let () = args(bytes, "dict.keys")?;
                let map = lock(&self.map);
                let size = map.iter().fold(10usize, |sum, (k, e)| {
                    sum.saturating_add(k.len())
                        .saturating_add(10)
                        .saturating_add(e.key_refs.ids().len().saturating_mul(10))
                });
                if size > ctx.limits().max_reply {
                    return Err(budget::too_large("dict.keys", ctx.limits()));
                }
                let keys = map.iter().map(|(k, e)| Self::key_item(k, e, ctx)).collect::<Result<Vec<_>, _>>()?;
                encode(&keys)
            }
            m::VALUES => {
                let () = args(bytes, "dict.values")?;
                encode(&Element::to_items(lock(&self.map).values().map(|e| &e.value), ctx, "dict.values")?)
            }
            m::ITEMS => {
                let () = args(bytes, "dict.items")?;
                encode(&Self::pairs(&lock(&self.map), ctx, "dict.items")?)
            }
            m::UPDATE => {
                let (Budgeted(pairs),): (Budgeted<(Item, Item)>,) = decode_within(bytes, "dict.update", ctx.limits())?;
                self.update(pairs, ctx)?;
                encode(&())
            }
            m::CLEAR => {
                let () = args(bytes, "dict.clear")?;
                let old = std::mem::take(&mut *lock(&self.map));
                drop(old);
                encode(&())
            }
            m::MERGED => {
                // `self | other`: a new mapping; this dict is unchanged.
                let (Budgeted(other),): (Budgeted<(Item, Item)>,) = decode_within(bytes, "dict.merged", ctx.limits())?;
                let mut out: OrderedMap<(Item, Item)> = OrderedMap::default();
                for (k, v) in Self::pairs(&lock(&self.map), ctx, "dict.merged")? {
                    out.insert(k.bytes.clone(), (k, v));
                }
                for (k, v) in other {
                    // Items from the caller go back as they came: take references for them.
                    let k = Element::take(k, ctx)?;
                    let v = Element::take(v, ctx)?;
                    let (ki, vi) = (k.to_item(ctx)?, v.to_item(ctx)?);
                    out.insert(ki.bytes.clone(), (ki, vi));
                }
                encode(&out.into_iter().map(|(_, pair)| pair).collect::<Vec<_>>())
            }
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown dict method")),
        }
    }
}

impl ServerObject for Dict {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, m::NAMES, m::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(Self::pairs(&lock(&self.map), ctx, "the dict's value").and_then(|p| encode(&p)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
