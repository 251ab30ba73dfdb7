//! `dict`: insertion-ordered like Python's; keys compared by their encoding.

use manager_proto::builtin::dict as d;
use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::stream::{BoxSource, encode_item};
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::budget::{self, Budgeted};
use super::iteration::{self, Changed, EncodeEntry, Iterable};
use super::ordered::OrderedMap;
use super::watch::{Watched, Watchers, item_of};
use super::{Element, Refs, args, args_within, encode, err, lock, new_within, ready, reply, resolve, stream_method};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};
use manager_proto::watch::DictChange;

pub(crate) const TYPE_ID: &str = manager_proto::builtin::DICT;

/// One entry: the key's references and the value.
pub(crate) struct Entry {
    key_refs: Refs,
    value: Element,
}

pub(crate) struct Dict {
    /// By key encoding, in insertion order.
    map: Mutex<Map>,
    watchers: Watchers,
}

type Pairs = Vec<(Item, Item)>;
type Map = OrderedMap<Entry>;

fn missing() -> RemoteError {
    err(RemoteErrorKind::KeyNotFound, "the key is not in the dict")
}

impl Dict {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Dict, RemoteError> {
        let (Budgeted(pairs),): (Budgeted<(Item, Item)>,) = new_within::<d::New, _>(bytes, d::NEW, ctx)?;
        let dict = Dict { map: Mutex::new(Map::default()), watchers: Watchers::default() };
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
            let updated = map.insert(key.clone(), Entry { key_refs, value }).is_some();
            self.emit_set(&map, &key, updated, ctx);
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

    /// Tells watchers `key` (in `map`) was set: a new key, or an `updated` one.
    fn emit_set(&self, map: &Map, key: &[u8], updated: bool, ctx: &CallContext) {
        let Some(entry) = map.get(key) else { return };
        self.watchers.emit(ctx, || {
            let ids = entry.key_refs.ids().iter().chain(entry.value.refs.ids()).copied().collect();
            let key = ItemRef { bytes: key, refs: entry.key_refs.ids().to_vec() };
            let value = item_of(&entry.value);
            (if updated { DictChange::Updated { key, value } } else { DictChange::Inserted { key, value } }, ids)
        });
    }

    /// Tells watchers `key` left (call it under the map's lock).
    fn emit_removed(&self, key: &[u8], entry: &Entry, ctx: &CallContext) {
        self.watchers.emit(ctx, || {
            let key = ItemRef { bytes: key, refs: entry.key_refs.ids().to_vec() };
            (DictChange::<_, ItemRef<'_>>::Removed { key }, entry.key_refs.ids().to_vec())
        });
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            d::Get::ID => {
                let (key,): (ItemRef<'_>,) = args::<d::Get, _>(bytes)?;
                let map = lock(&self.map);
                match map.get(key.bytes) {
                    Some(e) => e.value.reply_some::<d::Get>(ctx),
                    None => reply::<d::Get>(&None::<Item>),
                }
            }
            d::Insert::ID => {
                let (key, value): (ItemRef<'_>, ItemRef<'_>) = args::<d::Insert, _>(bytes)?;
                let key_refs = Refs::take(key.refs, ctx)?;
                let value = Element::take_ref(value, ctx)?;
                let mut map = lock(&self.map);
                let old = map.insert(key.bytes.to_vec(), Entry { key_refs, value });
                self.emit_set(&map, key.bytes, old.is_some(), ctx);
                drop(map);
                reply::<d::Insert>(&old.as_ref().map(|e| e.value.as_item(ctx)).transpose()?)
            }
            d::Remove::ID => self.remove::<d::Remove>(bytes, ctx),
            d::Pop::ID => self.remove::<d::Pop>(bytes, ctx),
            d::PopOr::ID => {
                let (key, default): (ItemRef<'_>, Item) = args::<d::PopOr, _>(bytes)?;
                let removed = lock(&self.map).remove(key.bytes).inspect(|(k, e)| self.emit_removed(k, e, ctx));
                match removed {
                    Some((_, entry)) => reply::<d::PopOr>(&entry.value.as_item(ctx)?),
                    // The default never entered the dict: hand its references back as they came.
                    None => reply::<d::PopOr>(&Element::take(default, ctx)?.as_item(ctx)?),
                }
            }
            d::PopItem::ID => {
                let () = args::<d::PopItem, _>(bytes)?;
                let (key, entry) = lock(&self.map)
                    .pop_last()
                    .inspect(|(k, e)| self.emit_removed(k, e, ctx))
                    .ok_or_else(|| err(RemoteErrorKind::KeyNotFound, "popitem(): dictionary is empty"))?;
                reply::<d::PopItem>(&(Self::key_item(&key, &entry, ctx)?, entry.value.as_item(ctx)?))
            }
            d::SetDefault::ID => {
                let (key, default): (Item, Item) = args::<d::SetDefault, _>(bytes)?;
                let mut map = lock(&self.map);
                if let Some(e) = map.get(&key.bytes) {
                    return reply::<d::SetDefault>(&e.value.as_item(ctx)?);
                }
                let entry = Entry { key_refs: Refs::take(key.refs, ctx)?, value: Element::take(default, ctx)? };
                let answer = reply::<d::SetDefault>(&entry.value.as_item(ctx)?);
                map.insert(key.bytes.clone(), entry);
                self.emit_set(&map, &key.bytes, false, ctx);
                answer
            }
            d::Contains::ID => {
                let (key,): (ItemRef<'_>,) = args::<d::Contains, _>(bytes)?;
                reply::<d::Contains>(&lock(&self.map).contains_key(key.bytes))
            }
            d::Len::ID => {
                let () = args::<d::Len, _>(bytes)?;
                reply::<d::Len>(&(lock(&self.map).len() as u64))
            }
            d::Snapshot::ID => {
                let () = args::<d::Snapshot, _>(bytes)?;
                reply::<d::Snapshot>(&Self::pairs(&lock(&self.map), ctx, d::Snapshot::WHAT)?)
            }
            d::Update::ID => {
                let (Budgeted(pairs),): (Budgeted<(Item, Item)>,) = args_within::<d::Update, _>(bytes, ctx)?;
                self.update(pairs, ctx)?;
                reply::<d::Update>(&())
            }
            d::Clear::ID => {
                let () = args::<d::Clear, _>(bytes)?;
                let mut map = lock(&self.map);
                let old = map.take_all();
                self.watchers.emit(ctx, || (DictChange::<ItemRef<'_>, ItemRef<'_>>::Cleared, Vec::new()));
                drop(map);
                drop(old);
                reply::<d::Clear>(&())
            }
            d::Merged::ID => {
                // `self | other`: a new mapping; this dict is unchanged.
                let (Budgeted(other),): (Budgeted<(Item, Item)>,) = args_within::<d::Merged, _>(bytes, ctx)?;
                let mut out: OrderedMap<(Item, Item)> = OrderedMap::default();
                for (k, v) in Self::pairs(&lock(&self.map), ctx, d::Merged::WHAT)? {
                    out.insert(k.bytes.clone(), (k, v));
                }
                for (k, v) in other {
                    // Items from the caller go back as they came: take references for them.
                    let k = Element::take(k, ctx)?;
                    let v = Element::take(v, ctx)?;
                    let (ki, vi) = (k.to_item(ctx)?, v.to_item(ctx)?);
                    out.insert(ki.bytes.clone(), (ki, vi));
                }
                reply::<d::Merged>(&out.into_iter().map(|(_, pair)| pair).collect::<Vec<_>>())
            }
            d::Keys::ID => Err(stream_method(d::Keys::WHAT)),
            d::Values::ID => Err(stream_method(d::Values::WHAT)),
            d::Items::ID => Err(stream_method(d::Items::WHAT)),
            d::Watch::ID => Err(stream_method(d::Watch::WHAT)),
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown dict method")),
        }
    }

    /// `del d[key]` or `d.pop(key)`: the value, or `KeyNotFound`.
    fn remove<M: Method<Args = (Item,), Reply = Item>>(&self, bytes: &[u8], ctx: &CallContext) -> StepResult {
        let (key,): (ItemRef<'_>,) = args::<M, _>(bytes)?;
        let (_, entry) =
            lock(&self.map).remove(key.bytes).inspect(|(k, e)| self.emit_removed(k, e, ctx)).ok_or_else(missing)?;
        entry.value.reply::<M>(ctx)
    }
}

impl Watched for Dict {
    fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    fn snapshot(&self, id: u64, ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
        let map = lock(&self.map);
        let events = self.watchers.resync(id, out);
        super::watch::encode_state(&Self::pairs(&map, ctx, d::Watch::WHAT)?, out)?;
        Ok(events)
    }
}

impl ServerObject for Dict {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(d::NAMES, d::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, d::NAMES, d::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn open(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Result<BoxSource, RemoteError> {
        let encode: EncodeEntry<Entry> = match resolve(TYPE_ID, d::NAMES, d::IDS, method)? {
            d::Keys::ID => {
                let () = args::<d::Keys, _>(bytes)?;
                encode_key
            }
            d::Values::ID => {
                let () = args::<d::Values, _>(bytes)?;
                encode_value
            }
            d::Items::ID => {
                let () = args::<d::Items, _>(bytes)?;
                encode_pair
            }
            d::Watch::ID => {
                let () = args::<d::Watch, _>(bytes)?;
                return Ok(Watchers::subscribe(self, ctx));
            }
            id => return Err(super::not_a_stream("dict", d::NAMES, d::IDS, id)),
        };
        Ok(iteration::open(self, ctx, encode, &CHANGED))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(Self::pairs(&lock(&self.map), ctx, "the dict's value").and_then(|p| encode(&p)))
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        for entry in lock(&self.map).values() {
            entry.key_refs.report(out);
            entry.value.refs.report(out);
        }
    }

    fn render(&self, types: &[&str], out: &mut manager_proto::repr::Repr) {
        let map = lock(&self.map);
        super::render::pairs(out, "dict", types, (map.len(), map.iter().map(|(k, e)| (&k[..], &e.value.bytes[..]))));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

/// Python's messages for a dict changed while it is iterated.
static CHANGED: Changed =
    Changed { size: "dictionary changed size during iteration", keys: "dictionary keys changed during iteration" };

impl Iterable for Dict {
    type Value = Entry;

    fn with_map<R>(&self, f: impl FnOnce(&Map) -> R) -> R {
        f(&lock(&self.map))
    }
}

/// `for k in d`, `d.keys()`: an entry's key.
fn encode_key(key: &[u8], entry: &Entry, ctx: &CallContext, out: &mut Vec<u8>) -> Result<(), RemoteError> {
    entry.key_refs.hand_out(ctx)?;
    encode_item(&ItemRef { bytes: key, refs: entry.key_refs.ids().to_vec() }, out, "a dict key")
}

/// `d.values()`: an entry's value.
fn encode_value(_: &[u8], entry: &Entry, ctx: &CallContext, out: &mut Vec<u8>) -> Result<(), RemoteError> {
    encode_item(&entry.value.as_item(ctx)?, out, "a dict value")
}

/// `d.items()`: the pair, key then value.
fn encode_pair(key: &[u8], entry: &Entry, ctx: &CallContext, out: &mut Vec<u8>) -> Result<(), RemoteError> {
    encode_key(key, entry, ctx, out)?;
    encode_value(key, entry, ctx, out)
}
