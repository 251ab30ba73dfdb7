//! `set` (Python 3.14's `SyncManager.set`): elements compared by their encoding, kept
//! in insertion order so results are deterministic.

use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::budget::{self, Budgeted, decode_within};
use super::ordered::OrderedMap;
use super::{Element, Refs, args, encode, err, lock, methods, ready, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::SET;

methods! {
    ADD = "add",
    DISCARD = "discard",
    REMOVE = "remove",
    CONTAINS = "contains",
    LEN = "len",
    POP = "pop",
    CLEAR = "clear",
    SNAPSHOT = "snapshot",
    UNION = "union",
    INTERSECTION = "intersection",
    DIFFERENCE = "difference",
    SYMMETRIC_DIFFERENCE = "symmetric_difference",
    UPDATE = "update",
    INTERSECTION_UPDATE = "intersection_update",
    DIFFERENCE_UPDATE = "difference_update",
    SYMMETRIC_DIFFERENCE_UPDATE = "symmetric_difference_update",
    ISDISJOINT = "isdisjoint",
    ISSUBSET = "issubset",
    ISSUPERSET = "issuperset",
}

type Members = OrderedMap<Refs>;

pub(crate) struct Set {
    members: Mutex<Members>,
}

fn item(bytes: &[u8], refs: &Refs, ctx: &CallContext) -> Result<Item, RemoteError> {
    refs.hand_out(ctx)?;
    Ok(Item { bytes: bytes.to_vec(), refs: refs.ids().to_vec() })
}

/// The encoded size of a reply carrying these members, at most.
fn reply_len<'a>(members: impl Iterator<Item = (&'a Vec<u8>, &'a Refs)>) -> usize {
    members.fold(10usize, |sum, (b, r)| {
        sum.saturating_add(b.len()).saturating_add(10).saturating_add(r.ids().len().saturating_mul(10))
    })
}

/// The members as sent to the caller (checked to fit in one reply before any is copied).
fn all<'a>(
    members: impl Iterator<Item = (&'a Vec<u8>, &'a Refs)> + Clone,
    ctx: &CallContext,
    what: &str,
) -> Result<Vec<Item>, RemoteError> {
    if reply_len(members.clone()) > ctx.limits().max_reply {
        return Err(budget::too_large(what, ctx.limits()));
    }
    members.map(|(b, r)| item(b, r, ctx)).collect()
}

/// Elements the caller sent, stored (taking their references) so they can be handed back.
fn take(items: Vec<Item>, ctx: &CallContext) -> Result<Members, RemoteError> {
    let mut out = Members::default();
    for e in Element::take_all(items, ctx)? {
        out.insert(e.bytes.into_vec(), e.refs);
    }
    Ok(out)
}

impl Set {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Set, RemoteError> {
        let (Budgeted(items),): (Budgeted<Item>,) = decode_within(bytes, "set()", ctx.limits())?;
        Ok(Set { members: Mutex::new(take(items, ctx)?) })
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            m::ADD => {
                let (it,): (Item,) = args(bytes, "set.add")?;
                let e = Element::take(it, ctx)?;
                lock(&self.members).insert_if_absent(e.bytes.into_vec(), e.refs);
                encode(&())
            }
            m::DISCARD => {
                let (it,): (Item,) = args(bytes, "set.discard")?;
                let old = lock(&self.members).remove(&it.bytes);
                drop(old);
                encode(&())
            }
            m::REMOVE => {
                let (it,): (Item,) = args(bytes, "set.remove")?;
                let old = lock(&self.members).remove(&it.bytes);
                match old {
                    Some(_) => encode(&()),
                    None => Err(err(RemoteErrorKind::KeyNotFound, "the element is not in the set")),
                }
            }
            m::CONTAINS => {
                let (it,): (Item,) = args(bytes, "set.contains")?;
                encode(&lock(&self.members).contains_key(&it.bytes))
            }
            m::LEN => {
                let () = args(bytes, "set.len")?;
                encode(&(lock(&self.members).len() as u64))
            }
            m::POP => {
                let () = args(bytes, "set.pop")?;
                let (b, r) = lock(&self.members)
                    .pop_first()
                    .ok_or_else(|| err(RemoteErrorKind::KeyNotFound, "pop from an empty set"))?;
                encode(&item(&b, &r, ctx)?)
            }
            m::CLEAR => {
                let () = args(bytes, "set.clear")?;
                let old = std::mem::take(&mut *lock(&self.members));
                drop(old);
                encode(&())
            }
            m::SNAPSHOT => {
                let () = args(bytes, "set.snapshot")?;
                encode(&all(lock(&self.members).iter(), ctx, "set.snapshot")?)
            }
            m::UNION | m::INTERSECTION | m::DIFFERENCE | m::SYMMETRIC_DIFFERENCE => {
                // A new set from this one and the caller's; this one is unchanged.
                let (Budgeted(items),): (Budgeted<Item>,) = decode_within(bytes, "set operation", ctx.limits())?;
                let other = take(items, ctx)?;
                let members = lock(&self.members);
                let mine = |b: &Vec<u8>| members.contains_key(b);
                let theirs = |b: &Vec<u8>| other.contains_key(b);
                let what = match id {
                    m::UNION => "set.union",
                    m::INTERSECTION => "set.intersection",
                    m::DIFFERENCE => "set.difference",
                    _ => "set.symmetric_difference",
                };
                let out = match id {
                    m::UNION => all(members.iter().chain(other.iter().filter(|(b, _)| !mine(b))), ctx, what)?,
                    m::INTERSECTION => all(members.iter().filter(|(b, _)| theirs(b)), ctx, what)?,
                    m::DIFFERENCE => all(members.iter().filter(|(b, _)| !theirs(b)), ctx, what)?,
                    _ => {
                        let left = members.iter().filter(|(b, _)| !theirs(b));
                        all(left.chain(other.iter().filter(|(b, _)| !mine(b))), ctx, what)?
                    }
                };
                encode(&out)
            }
            m::UPDATE | m::INTERSECTION_UPDATE | m::DIFFERENCE_UPDATE | m::SYMMETRIC_DIFFERENCE_UPDATE => {
                let (Budgeted(items),): (Budgeted<Item>,) = decode_within(bytes, "set update", ctx.limits())?;
                let other = take(items, ctx)?;
                let mut members = lock(&self.members);
                let removed: Vec<Refs> = match id {
                    m::UPDATE => {
                        for (b, r) in other {
                            members.insert_if_absent(b, r);
                        }
                        Vec::new()
                    }
                    m::INTERSECTION_UPDATE => {
                        members.split_off_unless(|b| other.contains_key(b)).into_iter().map(|(_, r)| r).collect()
                    }
                    m::DIFFERENCE_UPDATE => other.keys().filter_map(|b| members.remove(b)).map(|(_, r)| r).collect(),
                    _ => {
                        let mut removed = Vec::new();
                        for (b, r) in other {
                            match members.remove(&b) {
                                Some((_, old)) => removed.push(old),
                                None => {
                                    members.insert(b, r);
                                }
                            }
                        }
                        removed
                    }
                };
                drop(members);
                drop(removed);
                encode(&())
            }
            m::ISDISJOINT | m::ISSUBSET | m::ISSUPERSET => {
                let (Budgeted(items),): (Budgeted<Item>,) = decode_within(bytes, "set comparison", ctx.limits())?;
                let other: std::collections::HashSet<Vec<u8>> = items.into_iter().map(|i| i.bytes).collect();
                let members = lock(&self.members);
                let answer = match id {
                    m::ISDISJOINT => members.keys().all(|b| !other.contains(b)),
                    m::ISSUBSET => members.keys().all(|b| other.contains(b)),
                    _ => other.iter().all(|b| members.contains_key(b)),
                };
                encode(&answer)
            }
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown set method")),
        }
    }
}

impl ServerObject for Set {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, m::NAMES, m::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(all(lock(&self.members).iter(), ctx, "the set's value").and_then(|items| encode(&items)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
