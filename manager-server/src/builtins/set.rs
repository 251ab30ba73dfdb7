//! `set` (Python 3.14's `SyncManager.set`): elements compared by their encoding, kept
//! in insertion order so results are deterministic.

use manager_proto::builtin::set as st;
use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::stream::{BoxSource, encode_item};
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::budget::{self, Budgeted};
use super::iteration::{self, Changed, Iterable};
use super::ordered::OrderedMap;
use super::watch::{Watched, Watchers};
use super::{Element, Refs, args, args_within, encode, err, lock, new_within, ready, reply, resolve, stream_method};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};
use manager_proto::watch::SetChange;

pub(crate) const TYPE_ID: &str = manager_proto::builtin::SET;

type Members = OrderedMap<Refs>;

pub(crate) struct Set {
    members: Mutex<Members>,
    watchers: Watchers,
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
        let (Budgeted(items),): (Budgeted<Item>,) = new_within::<st::New, _>(bytes, st::NEW, ctx)?;
        Ok(Set { members: Mutex::new(take(items, ctx)?), watchers: Watchers::default() })
    }

    /// Tells watchers `bytes` (in `members`) came in.
    fn emit_added(&self, members: &Members, bytes: &[u8], ctx: &CallContext) {
        let Some(refs) = members.get(bytes) else { return };
        self.watchers
            .emit(ctx, || (SetChange::Added(ItemRef { bytes, refs: refs.ids().to_vec() }), refs.ids().to_vec()));
    }

    /// Tells watchers `bytes` left (call it under the members' lock).
    fn emit_removed(&self, bytes: &[u8], refs: &Refs, ctx: &CallContext) {
        self.watchers
            .emit(ctx, || (SetChange::Removed(ItemRef { bytes, refs: refs.ids().to_vec() }), refs.ids().to_vec()));
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            st::Add::ID => {
                let (it,): (Item,) = args::<st::Add, _>(bytes)?;
                let e = Element::take(it, ctx)?;
                let mut members = lock(&self.members);
                let bytes = e.bytes.into_vec();
                if members.insert_if_absent(bytes.clone(), e.refs) {
                    self.emit_added(&members, &bytes, ctx);
                }
                drop(members);
                reply::<st::Add>(&())
            }
            st::Discard::ID => {
                let (it,): (Item,) = args::<st::Discard, _>(bytes)?;
                let old = lock(&self.members).remove(&it.bytes).inspect(|(b, r)| self.emit_removed(b, r, ctx));
                drop(old);
                reply::<st::Discard>(&())
            }
            st::Remove::ID => {
                let (it,): (Item,) = args::<st::Remove, _>(bytes)?;
                let old = lock(&self.members).remove(&it.bytes).inspect(|(b, r)| self.emit_removed(b, r, ctx));
                match old {
                    Some(_) => reply::<st::Remove>(&()),
                    None => Err(err(RemoteErrorKind::KeyNotFound, "the element is not in the set")),
                }
            }
            st::Contains::ID => {
                let (it,): (Item,) = args::<st::Contains, _>(bytes)?;
                reply::<st::Contains>(&lock(&self.members).contains_key(&it.bytes))
            }
            st::Len::ID => {
                let () = args::<st::Len, _>(bytes)?;
                reply::<st::Len>(&(lock(&self.members).len() as u64))
            }
            st::Pop::ID => {
                let () = args::<st::Pop, _>(bytes)?;
                let (b, r) = lock(&self.members)
                    .pop_first()
                    .inspect(|(b, r)| self.emit_removed(b, r, ctx))
                    .ok_or_else(|| err(RemoteErrorKind::KeyNotFound, "pop from an empty set"))?;
                reply::<st::Pop>(&item(&b, &r, ctx)?)
            }
            st::Clear::ID => {
                let () = args::<st::Clear, _>(bytes)?;
                let mut members = lock(&self.members);
                let old = members.take_all();
                self.watchers.emit(ctx, || (SetChange::<ItemRef<'_>>::Cleared, Vec::new()));
                drop(members);
                drop(old);
                reply::<st::Clear>(&())
            }
            st::Snapshot::ID => {
                let () = args::<st::Snapshot, _>(bytes)?;
                reply::<st::Snapshot>(&all(lock(&self.members).iter(), ctx, st::Snapshot::WHAT)?)
            }
            st::Union::ID => self.operation::<st::Union>(bytes, ctx),
            st::Intersection::ID => self.operation::<st::Intersection>(bytes, ctx),
            st::Difference::ID => self.operation::<st::Difference>(bytes, ctx),
            st::SymmetricDifference::ID => self.operation::<st::SymmetricDifference>(bytes, ctx),
            st::Update::ID => self.update::<st::Update>(bytes, ctx),
            st::IntersectionUpdate::ID => self.update::<st::IntersectionUpdate>(bytes, ctx),
            st::DifferenceUpdate::ID => self.update::<st::DifferenceUpdate>(bytes, ctx),
            st::SymmetricDifferenceUpdate::ID => self.update::<st::SymmetricDifferenceUpdate>(bytes, ctx),
            st::IsDisjoint::ID => self.compare::<st::IsDisjoint>(bytes, ctx),
            st::IsSubset::ID => self.compare::<st::IsSubset>(bytes, ctx),
            st::IsSuperset::ID => self.compare::<st::IsSuperset>(bytes, ctx),
            st::Iter::ID => Err(stream_method(st::Iter::WHAT)),
            st::Watch::ID => Err(stream_method(st::Watch::WHAT)),
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown set method")),
        }
    }

    /// `union`, `intersection`, `difference`, `symmetric_difference`: a new set from
    /// this one and the caller's; this one is unchanged.
    fn operation<M: Method<Args = (Vec<Item>,), Reply = Vec<Item>>>(
        &self,
        bytes: &[u8],
        ctx: &CallContext,
    ) -> StepResult {
        let (Budgeted(items),): (Budgeted<Item>,) = args_within::<M, _>(bytes, ctx)?;
        let other = take(items, ctx)?;
        let members = lock(&self.members);
        let mine = |b: &Vec<u8>| members.contains_key(b);
        let theirs = |b: &Vec<u8>| other.contains_key(b);
        let what = M::WHAT;
        let out = match M::ID {
            st::Union::ID => all(members.iter().chain(other.iter().filter(|(b, _)| !mine(b))), ctx, what)?,
            st::Intersection::ID => all(members.iter().filter(|(b, _)| theirs(b)), ctx, what)?,
            st::Difference::ID => all(members.iter().filter(|(b, _)| !theirs(b)), ctx, what)?,
            _ => {
                let left = members.iter().filter(|(b, _)| !theirs(b));
                all(left.chain(other.iter().filter(|(b, _)| !mine(b))), ctx, what)?
            }
        };
        reply::<M>(&out)
    }

    /// The in-place forms: `update`, `intersection_update`, `difference_update`,
    /// `symmetric_difference_update`.
    fn update<M: Method<Args = (Vec<Item>,), Reply = ()>>(&self, bytes: &[u8], ctx: &CallContext) -> StepResult {
        let (Budgeted(items),): (Budgeted<Item>,) = args_within::<M, _>(bytes, ctx)?;
        let other = take(items, ctx)?;
        let mut members = lock(&self.members);
        let removed: Vec<Refs> = match M::ID {
            st::Update::ID => {
                for (b, r) in other {
                    if members.insert_if_absent(b.clone(), r) {
                        self.emit_added(&members, &b, ctx);
                    }
                }
                Vec::new()
            }
            st::IntersectionUpdate::ID => {
                let gone = members.split_off_unless(|b| other.contains_key(b));
                gone.into_iter()
                    .map(|(b, r)| {
                        self.emit_removed(&b, &r, ctx);
                        r
                    })
                    .collect()
            }
            st::DifferenceUpdate::ID => other
                .keys()
                .filter_map(|b| members.remove(b))
                .map(|(b, r)| {
                    self.emit_removed(&b, &r, ctx);
                    r
                })
                .collect(),
            _ => {
                let mut removed = Vec::new();
                for (b, r) in other {
                    match members.remove(&b) {
                        Some((b, old)) => {
                            self.emit_removed(&b, &old, ctx);
                            removed.push(old);
                        }
                        None => {
                            members.insert(b.clone(), r);
                            self.emit_added(&members, &b, ctx);
                        }
                    }
                }
                removed
            }
        };
        drop(members);
        drop(removed);
        reply::<M>(&())
    }

    /// `isdisjoint`, `issubset`, `issuperset`.
    fn compare<M: Method<Args = (Vec<Item>,), Reply = bool>>(&self, bytes: &[u8], ctx: &CallContext) -> StepResult {
        let (Budgeted(items),): (Budgeted<Item>,) = args_within::<M, _>(bytes, ctx)?;
        let other: std::collections::HashSet<Vec<u8>> = items.into_iter().map(|i| i.bytes).collect();
        let members = lock(&self.members);
        let answer = match M::ID {
            st::IsDisjoint::ID => members.keys().all(|b| !other.contains(b)),
            st::IsSubset::ID => members.keys().all(|b| other.contains(b)),
            _ => other.iter().all(|b| members.contains_key(b)),
        };
        reply::<M>(&answer)
    }
}

impl Watched for Set {
    fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    fn snapshot(&self, id: u64, ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
        let members = lock(&self.members);
        let events = self.watchers.resync(id, out);
        super::watch::encode_state(&all(members.iter(), ctx, st::Watch::WHAT)?, out)?;
        Ok(events)
    }
}

impl ServerObject for Set {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(st::NAMES, st::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, st::NAMES, st::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn open(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Result<BoxSource, RemoteError> {
        match resolve(TYPE_ID, st::NAMES, st::IDS, method)? {
            st::Iter::ID => {
                let () = args::<st::Iter, _>(bytes)?;
                Ok(iteration::open(self, ctx, encode_member, &CHANGED))
            }
            st::Watch::ID => {
                let () = args::<st::Watch, _>(bytes)?;
                Ok(Watchers::subscribe(self, ctx))
            }
            id => Err(super::not_a_stream("set", st::NAMES, st::IDS, id)),
        }
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(all(lock(&self.members).iter(), ctx, "the set's value").and_then(|items| encode(&items)))
    }

    fn render(&self, types: &[&str], out: &mut manager_proto::repr::Repr) {
        let members = lock(&self.members);
        match members.len() {
            0 => out.push("set()"),
            _ => super::render::sequence(
                out,
                "set",
                ("{", "}"),
                types.first().copied(),
                (members.len(), members.keys().map(|k| &k[..])),
            ),
        }
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        lock(&self.members).values().for_each(|refs| refs.report(out));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

/// Python's message for a set whose size changed while it is iterated. Python's set
/// iterator goes on when the elements change with the size the same, and may then skip
/// or repeat some; this one fails instead.
static CHANGED: Changed = Changed { size: "Set changed size during iteration", keys: "Set changed during iteration" };

impl Iterable for Set {
    type Value = Refs;

    fn with_map<R>(&self, f: impl FnOnce(&Members) -> R) -> R {
        f(&lock(&self.members))
    }
}

/// `for x in s`: a member.
fn encode_member(bytes: &[u8], refs: &Refs, ctx: &CallContext, out: &mut Vec<u8>) -> Result<(), RemoteError> {
    refs.hand_out(ctx)?;
    encode_item(&ItemRef { bytes, refs: refs.ids().to_vec() }, out, "a set element")
}
