//! What a request's elements cost once stored, checked before they are stored.
//!
//! A stored element costs its encoded bytes plus a fixed [`ELEMENT_COST`]: a frame
//! full of empty elements (two bytes each on the wire) would cost thirty times its size
//! in memory, and `repeat(n)` costs `n` times the list from a request of a few bytes. So
//! a request's elements are charged against [`Limits::max_request_memory`]:
//!
//! - sequences in the arguments decode through [`Budgeted`], which counts each element
//!   as it is decoded and stops at the limit, long before the sequence is whole;
//! - a call that multiplies what is stored (`repeat`) checks with [`check`] first.
//!
//! [`Budgeted`] learns the limit from [`decode_within`], which sets it for the one
//! synchronous decode it runs (a thread-local, because serde's `Deserialize` takes no
//! context); decoded anywhere else it uses the default limit.

use manager_proto::contract::WireAs;
use manager_proto::{Item, RemoteError, RemoteErrorKind};
use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use std::cell::Cell;
use std::marker::PhantomData;

use super::{Element, err};
use crate::limits::Limits;

/// The fixed cost of one stored element, beyond its bytes: the element itself (its
/// buffer's handle and its references' list) and the allocator's bookkeeping.
pub(crate) const ELEMENT_COST: usize = std::mem::size_of::<Element>() + 16;

thread_local! {
    /// What the decode running on this thread may still charge; `None` outside
    /// [`decode_within`] (the default limit applies).
    static LEFT: Cell<Option<usize>> = const { Cell::new(None) };
    /// Set when a decode stopped at the limit.
    static OVERRUN: Cell<bool> = const { Cell::new(false) };
}

/// What storing a decoded value costs.
pub(crate) trait Footprint {
    fn footprint(&self) -> usize;
}

impl Footprint for Item {
    fn footprint(&self) -> usize {
        ELEMENT_COST.saturating_add(self.bytes.len()).saturating_add(self.refs.len().saturating_mul(8))
    }
}

impl<A: Footprint, B: Footprint> Footprint for (A, B) {
    fn footprint(&self) -> usize {
        self.0.footprint().saturating_add(self.1.footprint())
    }
}

impl Footprint for String {
    fn footprint(&self) -> usize {
        ELEMENT_COST.saturating_add(self.len())
    }
}

/// A sequence of elements in a request's arguments (the same wire form as a `Vec`),
/// decoded only as far as the request's memory limit allows.
#[derive(Debug)]
pub(crate) struct Budgeted<T>(pub(crate) Vec<T>);

impl<A: WireAs<B>, B> WireAs<Vec<B>> for Budgeted<A> {}

impl<'de, T: Deserialize<'de> + Footprint> Deserialize<'de> for Budgeted<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seq<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de> + Footprint> Visitor<'de> for Seq<T> {
            type Value = Budgeted<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence of elements")
            }

            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Budgeted<T>, S::Error> {
                let mut left = LEFT.get().unwrap_or(Limits::default().max_request_memory);
                // Room for what the limit allows at most, however many are announced.
                let room = seq.size_hint().unwrap_or(0).min(left.checked_div(ELEMENT_COST).unwrap_or(0)).min(4096);
                let mut out = Vec::with_capacity(room);
                while let Some(element) = seq.next_element::<T>()? {
                    match left.checked_sub(element.footprint()) {
                        Some(l) => left = l,
                        None => {
                            OVERRUN.set(true);
                            return Err(serde::de::Error::custom("over the request's memory limit"));
                        }
                    }
                    out.push(element);
                }
                if let Some(l) = LEFT.get() {
                    LEFT.set(Some(l.min(left)));
                }
                Ok(Budgeted(out))
            }
        }

        d.deserialize_seq(Seq(PhantomData))
    }
}

/// Decodes a method's arguments as [`decode`](super::decode) does, charging the
/// [`Budgeted`] sequences in them against `limits`.
pub(crate) fn decode_within<'a, A: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &str,
    limits: &Limits,
) -> Result<A, RemoteError> {
    LEFT.set(Some(limits.max_request_memory));
    OVERRUN.set(false);
    let decoded = super::decode(bytes, what);
    LEFT.set(None);
    match decoded {
        Err(_) if OVERRUN.replace(false) => Err(over(what, None, limits)),
        other => other,
    }
}

/// Checks that storing `cost` more bytes (`None`: more than a `usize` counts) is within
/// what one request may store.
pub(crate) fn check(what: &str, cost: Option<usize>, limits: &Limits) -> Result<(), RemoteError> {
    match cost {
        Some(cost) if cost <= limits.max_request_memory => Ok(()),
        _ => Err(over(what, cost, limits)),
    }
}

fn over(what: &str, cost: Option<usize>, limits: &Limits) -> RemoteError {
    let cost = match cost {
        Some(c) => format!("about {c} bytes"),
        None => "more than a machine's address space".to_owned(),
    };
    err(
        RemoteErrorKind::LimitExceeded,
        format!(
            "{what}: storing the result would take {cost}, over the {}-byte limit on what one request may store \
             (ServerBuilder::max_request_memory)",
            limits.max_request_memory
        ),
    )
}

/// The encoded size of a reply carrying `elements`, at most; checked against the
/// largest frame before the reply is built.
pub(crate) fn check_reply<'a>(
    what: &str,
    elements: impl Iterator<Item = &'a Element>,
    limits: &Limits,
) -> Result<(), RemoteError> {
    let mut size: usize = 10;
    for e in elements {
        size = size.saturating_add(e.encoded_len());
        if size > limits.max_reply {
            return Err(too_large(what, limits));
        }
    }
    Ok(())
}

/// A reply over the largest frame.
pub(crate) fn too_large(what: &str, limits: &Limits) -> RemoteError {
    err(
        RemoteErrorKind::LimitExceeded,
        format!(
            "{what}: the result would be larger than the largest frame ({} bytes); read it in parts (slices, get)",
            limits.max_reply
        ),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn a_sequence_decodes_only_as_far_as_the_limit() {
        let items = vec![Item::plain(vec![1]); 1000];
        let bytes = postcard::to_allocvec(&(items.clone(),)).unwrap();
        let roomy = Limits { max_reply: 1 << 20, max_request_memory: 1000 * (ELEMENT_COST + 1) };
        let (Budgeted(got),): (Budgeted<Item>,) = decode_within(&bytes, "test", &roomy).unwrap();
        assert_eq!(got, items);
        let tight = Limits { max_request_memory: 999 * (ELEMENT_COST + 1), ..roomy };
        let e = decode_within::<(Budgeted<Item>,)>(&bytes, "list.extend", &tight).unwrap_err();
        assert_eq!(e.kind, RemoteErrorKind::LimitExceeded);
        assert!(e.message.starts_with("list.extend: "), "{e}");
        // A decode error that is not the limit stays a decode error.
        let e = decode_within::<(Budgeted<Item>,)>(&bytes[..10], "list.extend", &roomy).unwrap_err();
        assert_eq!(e.kind, RemoteErrorKind::Decode);
    }

    #[test]
    fn a_huge_announced_length_allocates_nothing_up_front() {
        // Announces 2^40 elements and carries two.
        let mut bytes = postcard::to_allocvec(&(1u64 << 40)).unwrap();
        bytes.extend(postcard::to_allocvec(&Item::plain(vec![])).unwrap());
        let e = decode_within::<(Budgeted<Item>,)>(&bytes, "t", &Limits::default()).unwrap_err();
        assert_eq!(e.kind, RemoteErrorKind::Decode);
    }
}
