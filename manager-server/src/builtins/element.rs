//! What a container stores per element: its encoding ([`Stored`], a large one shared
//! so replies go out without a copy) and the references its proxies hold ([`Refs`]).

use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::outq::{OWNED_BODY_MIN, SharedBytes};
use manager_proto::{Item, ObjectId, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Weak};

use super::{budget, err, reply};
use crate::object::{CallContext, Reply, StepResult, Table};

/// References to shared objects named by proxies inside a stored element. Holding them
/// keeps those objects alive; dropping them releases them.
pub(crate) struct Refs {
    ids: Vec<ObjectId>,
    table: Weak<Table>,
}

impl Refs {
    /// No references.
    pub(crate) fn none() -> Refs {
        Refs { ids: Vec::new(), table: Weak::new() }
    }

    /// Takes a reference to each of `ids` (all or none).
    pub(crate) fn take(ids: Vec<ObjectId>, ctx: &CallContext) -> Result<Refs, RemoteError> {
        if ids.is_empty() {
            return Ok(Refs::none());
        }
        let table = ctx.table();
        for (n, id) in ids.iter().enumerate() {
            if let Err(e) = table.incref(*id) {
                for taken in ids.iter().take(n) {
                    table.release(*taken);
                }
                return Err(e);
            }
        }
        Ok(Refs { ids, table: Arc::downgrade(table) })
    }

    /// Takes a reference to each for the caller, whose reply carries proxies to them.
    pub(crate) fn hand_out(&self, ctx: &CallContext) -> Result<(), RemoteError> {
        self.ids.iter().try_for_each(|id| ctx.adopt(*id))
    }

    pub(crate) fn ids(&self) -> &[ObjectId] {
        &self.ids
    }

    /// Appends the ids referenced, for the cycle collector.
    pub(crate) fn report(&self, out: &mut Vec<ObjectId>) {
        out.extend_from_slice(&self.ids);
    }
}

impl Drop for Refs {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            for id in &self.ids {
                table.release(*id);
            }
        }
    }
}

/// A stored element's encoding. A large one is shared, so that a reply carrying it is
/// written from where it lies instead of being copied into the reply; a small one is a
/// plain buffer (no second allocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    Small(Vec<u8>),
    Large(SharedBytes),
}

impl From<Vec<u8>> for Stored {
    fn from(bytes: Vec<u8>) -> Stored {
        if bytes.len() >= OWNED_BODY_MIN { Stored::Large(bytes.into()) } else { Stored::Small(bytes) }
    }
}

impl std::ops::Deref for Stored {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Stored::Small(bytes) => bytes,
            Stored::Large(bytes) => bytes,
        }
    }
}

impl PartialEq<Vec<u8>> for Stored {
    fn eq(&self, other: &Vec<u8>) -> bool {
        **self == other[..]
    }
}

impl Stored {
    /// The bytes as a buffer of their own (copied only if a reply still holds them).
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Stored::Small(bytes) => bytes,
            Stored::Large(bytes) => bytes.into_vec(),
        }
    }
}

/// What goes before and after an element's `len` bytes in [`ItemRef`]'s wire form,
/// with `prefix` first: the byte string's length, and the references.
fn element_frame(prefix: &[u8], len: usize, refs: &[ObjectId]) -> Result<(Vec<u8>, Vec<u8>), postcard::Error> {
    let head = postcard::to_extend(&(len as u64), prefix.to_vec())?;
    let trailer = postcard::to_allocvec(refs)?;
    Ok((head, trailer))
}

/// A stored element: its encoding and the references its proxies hold.
pub(crate) struct Element {
    pub(crate) bytes: Stored,
    pub(crate) refs: Refs,
}

impl Element {
    /// Stores an element a client sent, taking its references.
    pub(crate) fn take(item: Item, ctx: &CallContext) -> Result<Element, RemoteError> {
        Ok(Element { refs: Refs::take(item.refs, ctx)?, bytes: item.bytes.into() })
    }

    /// [`take`](Self::take) for an element decoded in place. A large one keeps its part
    /// of the request frame it came in, when its connection kept that frame whole (see
    /// [`CallContext::received_part`]); any other is copied once, as decoding it into an
    /// [`Item`] would.
    pub(crate) fn take_ref(item: ItemRef<'_>, ctx: &CallContext) -> Result<Element, RemoteError> {
        let part = match item.bytes.len() {
            n if n >= OWNED_BODY_MIN => ctx.received_part(item.bytes),
            _ => None,
        };
        let bytes = match part {
            Some(part) => Stored::Large(part),
            None => item.bytes.to_vec().into(),
        };
        Ok(Element { refs: Refs::take(item.refs, ctx)?, bytes })
    }

    /// Stores several elements (all or none).
    pub(crate) fn take_all(items: Vec<Item>, ctx: &CallContext) -> Result<Vec<Element>, RemoteError> {
        items.into_iter().map(|i| Element::take(i, ctx)).collect()
    }

    /// The most bytes this element takes in a reply (its bytes, their length, its
    /// references).
    pub(crate) fn encoded_len(&self) -> usize {
        self.bytes.len().saturating_add(10).saturating_add(self.refs.ids.len().saturating_mul(10))
    }

    /// What storing this element costs (see [`budget::ELEMENT_COST`]).
    pub(crate) fn footprint(&self) -> usize {
        budget::ELEMENT_COST.saturating_add(self.bytes.len()).saturating_add(self.refs.ids.len().saturating_mul(8))
    }

    /// A second copy of the element, holding its own references.
    pub(crate) fn duplicate(&self, ctx: &CallContext) -> Result<Element, RemoteError> {
        Ok(Element { bytes: self.bytes.clone(), refs: Refs::take(self.refs.ids.clone(), ctx)? })
    }

    /// The element as sent to the caller, who gets a reference for each proxy in it.
    pub(crate) fn to_item(&self, ctx: &CallContext) -> Result<Item, RemoteError> {
        self.refs.hand_out(ctx)?;
        Ok(Item { bytes: self.bytes.to_vec(), refs: self.refs.ids.clone() })
    }

    /// [`to_item`](Self::to_item) without the copy, to encode from where it lies.
    pub(crate) fn as_item(&self, ctx: &CallContext) -> Result<ItemRef<'_>, RemoteError> {
        self.refs.hand_out(ctx)?;
        Ok(ItemRef { bytes: &self.bytes, refs: self.refs.ids.clone() })
    }

    /// The reply of a call that returns this element, as `reply::<M>(&self.as_item(ctx)?)`
    /// would make it; a large element goes out from where it lies, with no copy made
    /// for the reply.
    pub(crate) fn reply<M: Method<Reply = Item>>(&self, ctx: &CallContext) -> StepResult {
        match self.reply_shared(&[], ctx) {
            Some(reply) => reply,
            None => reply::<M>(&self.as_item(ctx)?),
        }
    }

    /// [`reply`](Self::reply) for a call that returns `Some(element)`.
    pub(crate) fn reply_some<M: Method<Reply = Option<Item>>>(&self, ctx: &CallContext) -> StepResult {
        // postcard writes `Some` as the tag 1, then the value.
        match self.reply_shared(&[1], ctx) {
            Some(reply) => reply,
            None => reply::<M>(&Some(self.as_item(ctx)?)),
        }
    }

    /// A large element's reply after `prefix`, written from where it lies; `None` for a
    /// small one.
    #[inline]
    fn reply_shared(&self, prefix: &[u8], ctx: &CallContext) -> Option<StepResult> {
        let Stored::Large(shared) = &self.bytes else {
            return None;
        };
        Some(self.reply_large(prefix, shared, ctx))
    }

    /// [`reply_shared`](Self::reply_shared)'s work, out of line (the common small
    /// replies skip it).
    #[inline(never)]
    fn reply_large(&self, prefix: &[u8], shared: &SharedBytes, ctx: &CallContext) -> StepResult {
        self.refs.hand_out(ctx)?;
        let (head, trailer) = element_frame(prefix, shared.len(), self.refs.ids())
            .map_err(|e| err(RemoteErrorKind::Protocol, e.to_string()))?;
        Ok(Reply::shared_element(head, shared.clone(), trailer))
    }

    /// Several elements as sent to the caller. `what` names the call, for the error
    /// when they would not fit in one reply (checked before any is copied).
    pub(crate) fn to_items<'a, I>(elements: I, ctx: &CallContext, what: &str) -> Result<Vec<Item>, RemoteError>
    where
        I: IntoIterator<Item = &'a Element>,
        I::IntoIter: Clone,
    {
        let elements = elements.into_iter();
        budget::check_reply(what, elements.clone(), ctx.limits())?;
        elements.map(|e| e.to_item(ctx)).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation, clippy::indexing_slicing)]

    use super::*;
    use crate::builtins::decode;
    use crate::limits::Limits;

    /// A large element's reply, head + its bytes + trailer, is what postcard makes of
    /// the element (bare, or as `Some`), references and all.
    #[test]
    fn a_shared_element_reply_has_the_encoded_elements_bytes() {
        let bytes: Vec<u8> = (0..manager_proto::outq::OWNED_BODY_MIN + 300).map(|i| (i % 253) as u8).collect();
        for refs in [vec![], vec![ObjectId(1)], vec![ObjectId(300), ObjectId(u64::MAX)]] {
            let item = ItemRef { bytes: &bytes, refs: refs.clone() };
            for (prefix, expected) in
                [(&[][..], postcard::to_allocvec(&item)), (&[1][..], postcard::to_allocvec(&Some(item.clone())))]
            {
                let (head, trailer) = element_frame(prefix, bytes.len(), &refs).unwrap();
                assert_eq!([head, bytes.clone(), trailer].concat(), expected.unwrap());
            }
        }
        assert!(matches!(Stored::from(bytes), Stored::Large(_)));
        assert!(matches!(Stored::from(vec![1; 10]), Stored::Small(_)));
    }

    /// An element stored from a request frame that was taken whole keeps its part of
    /// the frame, and its reply is still exactly the element's encoding; without such a
    /// frame it is copied.
    #[test]
    fn a_large_element_from_a_taken_frame_keeps_its_part_of_the_frame() {
        let table = Arc::new(Table::default());
        let bytes: Vec<u8> = (0..OWNED_BODY_MIN + 10).map(|i| (i % 249) as u8).collect();
        let args_bytes = postcard::to_allocvec(&(ItemRef { bytes: &bytes, refs: vec![] },)).unwrap();
        // The arguments as they lie in a request frame, after a few header bytes.
        let frame = SharedBytes::from([&[9u8, 9, 9][..], &args_bytes].concat());
        let ctx = CallContext::internal(Arc::clone(&table), Limits::default()).receiving(frame.clone());
        let (item,): (ItemRef<'_>,) = decode(&frame[3..], "a test").unwrap();
        let element = Element::take_ref(item, &ctx).unwrap();
        drop(ctx);
        assert_eq!(frame.holders(), 2, "stored without a copy");
        let reply = element
            .reply::<manager_proto::builtin::value::Get>(&CallContext::internal(Arc::clone(&table), Limits::default()))
            .unwrap();
        let (body, trailer) = reply.shared.unwrap();
        let wire = [reply.bytes.bytes(), &body, &trailer].concat();
        assert_eq!(postcard::from_bytes::<Item>(&wire).unwrap().bytes, bytes);
        drop(body);
        // Without a taken frame the same arguments are copied; a small element is
        // copied either way.
        let ctx = CallContext::internal(Arc::clone(&table), Limits::default());
        let (item,): (ItemRef<'_>,) = decode(&frame[3..], "a test").unwrap();
        let copied = Element::take_ref(item, &ctx).unwrap();
        assert!(matches!(copied.bytes, Stored::Large(_)));
        let small = postcard::to_allocvec(&(ItemRef { bytes: &[1, 2, 3], refs: vec![] },)).unwrap();
        let frame_small = SharedBytes::from(small);
        let ctx = ctx.receiving(frame_small.clone());
        let (item,): (ItemRef<'_>,) = decode(&frame_small, "a test").unwrap();
        assert!(matches!(Element::take_ref(item, &ctx).unwrap().bytes, Stored::Small(_)));
        assert_eq!(frame.holders(), 2);
        drop((element, copied));
        assert_eq!(frame.holders(), 1, "let go with the element");
        // Two large elements in one frame: neither keeps the other alive.
        let two =
            postcard::to_allocvec(&(ItemRef { bytes: &bytes, refs: vec![] }, ItemRef { bytes: &bytes, refs: vec![] }))
                .unwrap();
        let frame = SharedBytes::from(two);
        let ctx = CallContext::internal(Arc::clone(&table), Limits::default()).receiving(frame.clone());
        let (first, second): (ItemRef<'_>, ItemRef<'_>) = decode(&frame, "a test").unwrap();
        let kept = [Element::take_ref(first, &ctx).unwrap(), Element::take_ref(second, &ctx).unwrap()];
        drop(ctx);
        assert_eq!(frame.holders(), 1, "both copied");
        assert!(kept.iter().all(|e| *e.bytes == bytes[..]));
    }
}
