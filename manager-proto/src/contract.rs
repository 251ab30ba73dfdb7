//! A built-in method's contract, written once for both sides: its name and the wire
//! shapes of its arguments and reply.
//!
//! Each built-in method is a type implementing [`Method`] (declared in
//! [`builtin`](crate::builtin)). The server decodes a
//! call's arguments, and the client encodes them, through the same `M::Args`; the reply
//! through the same `M::Reply`. Neither side has to use those exact Rust types — a
//! server borrows an element from the request where the contract names an owned
//! [`Item`], a client writes a key from its stack — but whatever each side uses must be
//! [`WireAs`] the contract's type: written with exactly its bytes. A client and server
//! that disagree on a method's shape do not compile.

use crate::element::{Item, ItemBuf, ItemRef};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One built-in method: its name and the wire shapes of its arguments and reply.
pub trait Method {
    /// The method's name, as users call it.
    const NAME: &'static str;
    /// The id it travels as ([`method_id`](crate::method_id) of its name).
    const ID: u32 = crate::method_id(Self::NAME);
    /// `type.method`, as users know it: what error messages name.
    const WHAT: &'static str;
    /// The argument tuple.
    type Args: Serialize + DeserializeOwned + Shape;
    /// The reply.
    type Reply: Serialize + DeserializeOwned;
}

/// A contract type described one letter per value, for tools that generate calls (the
/// server's fuzzer): `u` u64, `i` i64, `o` `Option<i64>`, `b` bool, `t` a timeout
/// (`Option<f64>` seconds), `I` an element, `c` an optional element, `V` elements, `P`
/// pairs of elements, `S` a name, `N` named elements, `K` a number kind, `B` a number's
/// encoding (bytes). A tuple is its fields' letters in order (postcard writes them so).
pub trait Shape {
    /// Appends the letters.
    fn shape(out: &mut String);
}

macro_rules! shapes {
    ($($t:ty => $c:literal),*) => {
        $(impl Shape for $t {
            fn shape(out: &mut String) {
                out.push($c);
            }
        })*
    };
}
shapes!(u64 => 'u', i64 => 'i', Option<i64> => 'o', bool => 'b', Option<f64> => 't', Item => 'I',
    Option<Item> => 'c', Vec<Item> => 'V', Vec<(Item, Item)> => 'P', String => 'S', Vec<(String, Item)> => 'N',
    Vec<u8> => 'B');

impl Shape for () {
    fn shape(_: &mut String) {}
}

macro_rules! tuple_shapes {
    ($(($($a:ident),+))*) => {
        $(impl<$($a: Shape),+> Shape for ($($a,)+) {
            fn shape(out: &mut String) {
                $($a::shape(out);)+
            }
        })*
    };
}
tuple_shapes! { (A) (A, B) (A, B, C) (A, B, C, D) }

/// Arguments around one element that may be large: those before it, the element, those
/// after it. A client sends the element's bytes from where they are, without copying
/// them into the encoded arguments (postcard writes a tuple as its fields one after the
/// other, so this is the same wire form as the flat tuple).
pub type WithItem<Before, After> = (Before, Item, After);

/// `Self` is written (and read) with exactly the bytes of `T`: the relation that lets
/// each side choose its own types for a contract's shapes. Only implemented where it
/// holds; it is a compile-time check, with nothing to call.
pub trait WireAs<T> {}

macro_rules! same {
    ($($t:ty),*) => { $(impl WireAs<$t> for $t {})* };
}
same!((), bool, u8, u16, u32, u64, i64, f64, String, Item);

impl WireAs<String> for str {}
impl WireAs<Item> for ItemRef<'_> {}
impl WireAs<Item> for ItemBuf<'_> {}
impl<T: WireAs<U> + ?Sized, U> WireAs<U> for &T {}
impl<A: WireAs<B>, B> WireAs<Option<B>> for Option<A> {}
impl<A: WireAs<B>, B, E: WireAs<F>, F> WireAs<Result<B, F>> for Result<A, E> {}
impl<A: WireAs<B>, B> WireAs<Vec<B>> for Vec<A> {}
impl<A: WireAs<B>, B> WireAs<Vec<B>> for [A] {}

macro_rules! tuples {
    ($(($($a:ident $b:ident),+))*) => {
        $(impl<$($a: WireAs<$b>, $b),+> WireAs<($($b,)+)> for ($($a,)+) {})*
    };
}
tuples! {
    (A1 B1)
    (A1 B1, A2 B2)
    (A1 B1, A2 B2, A3 B3)
    (A1 B1, A2 B2, A3 B3, A4 B4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_as<A: WireAs<B> + Serialize + ?Sized, B: Serialize>(a: &A, b: &B) {
        assert_eq!(postcard::to_allocvec(a).unwrap(), postcard::to_allocvec(b).unwrap());
    }

    /// Each relation the contracts rely on holds byte for byte.
    #[test]
    fn related_types_write_the_same_bytes() {
        let item = Item { bytes: vec![1, 2, 3], refs: vec![crate::ObjectId(7)] };
        let item_ref = ItemRef { bytes: &[1, 2, 3], refs: vec![crate::ObjectId(7)] };
        wire_as(&item_ref, &item);
        wire_as(&(Some(&item_ref), 5u64), &(Some(item.clone()), 5u64));
        wire_as("name", &String::from("name"));
        wire_as(&[item_ref.clone()][..], &vec![item.clone()]);
        let mut stack = [0u8; 8];
        let buf = crate::element::encode_item_in(&42u32, crate::ServerId(1), "a key", &mut stack).unwrap();
        wire_as(&buf, &crate::element::encode_item(&42u32, crate::ServerId(1), "a key").unwrap());
        // A split call's arguments are the flat tuple's bytes.
        let split: WithItem<(i64,), (bool,)> = ((-1,), item.clone(), (true,));
        assert_eq!(postcard::to_allocvec(&split).unwrap(), postcard::to_allocvec(&(-1i64, item, true)).unwrap());
    }
}
