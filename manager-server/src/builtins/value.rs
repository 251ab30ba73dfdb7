//! `Value`: one value, with atomic read-modify-write where Python needs a lock round
//! trip: `swap`, `compare_exchange` (by encoding) and, for numbers, `fetch_add` /
//! `fetch_sub` — one request each.

use manager_proto::builtin::NumKind;
use manager_proto::builtin::value as v;
use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::watch::{Watched, Watchers, item_of};
use super::{Element, args, err, lock, new_args, ready, reply, resolve};
use crate::object::CallContext;
use crate::object::{ServerObject, Step, StepResult};
use manager_proto::stream::BoxSource;
use manager_proto::watch::ValueChange;

pub(crate) const TYPE_ID: &str = manager_proto::builtin::VALUE;

pub(crate) struct Value {
    value: Mutex<Element>,
    watchers: Watchers,
}

impl Value {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Value, RemoteError> {
        let (item,): (ItemRef<'_>,) = new_args::<v::New, _>(bytes, v::NEW)?;
        Ok(Value { value: Mutex::new(Element::take_ref(item, ctx)?), watchers: Watchers::default() })
    }

    /// Tells watchers the value is `value` now.
    fn emit(&self, value: &Element, ctx: &CallContext) {
        self.watchers.emit(ctx, || (ValueChange::Set(item_of(value)), value.refs.ids().to_vec()));
    }

    fn run(&self, id: u32, bytes: &[u8], ctx: &CallContext) -> StepResult {
        match id {
            v::Get::ID => {
                let () = args::<v::Get, _>(bytes)?;
                lock(&self.value).reply::<v::Get>(ctx)
            }
            v::Set::ID => {
                let ((), item, ()): ((), ItemRef<'_>, ()) = args::<v::Set, _>(bytes)?;
                let new = Element::take_ref(item, ctx)?;
                let mut value = lock(&self.value);
                let old = std::mem::replace(&mut *value, new);
                self.emit(&value, ctx);
                drop(value);
                drop(old);
                reply::<v::Set>(&())
            }
            v::Swap::ID => {
                let (item,): (ItemRef<'_>,) = args::<v::Swap, _>(bytes)?;
                let new = Element::take_ref(item, ctx)?;
                let mut value = lock(&self.value);
                let old = std::mem::replace(&mut *value, new);
                self.emit(&value, ctx);
                drop(value);
                reply::<v::Swap>(&old.to_item(ctx)?)
            }
            v::CompareExchange::ID => {
                // Ok(previous) if the value was `expected` (and is now `new`), else
                // Err(current).
                let (expected, new): (ItemRef<'_>, ItemRef<'_>) = args::<v::CompareExchange, _>(bytes)?;
                let new = Element::take_ref(new, ctx)?;
                let mut value = lock(&self.value);
                if *value.bytes == *expected.bytes {
                    let old = std::mem::replace(&mut *value, new);
                    self.emit(&value, ctx);
                    drop(value);
                    reply::<v::CompareExchange>(&Ok::<Item, Item>(old.to_item(ctx)?))
                } else {
                    reply::<v::CompareExchange>(&Err::<Item, Item>(value.to_item(ctx)?))
                }
            }
            v::FetchAdd::ID => self.fetch::<v::FetchAdd>(bytes, false, ctx),
            v::FetchSub::ID => self.fetch::<v::FetchSub>(bytes, true, ctx),
            v::Watch::ID => Err(super::stream_method(v::Watch::WHAT)),
            _ => Err(err(RemoteErrorKind::NotExposed, "unknown Value method")),
        }
    }

    /// `fetch_add` or (`subtract`) `fetch_sub`: the old value.
    fn fetch<M: Method<Args = (NumKind, Vec<u8>), Reply = Item>>(
        &self,
        bytes: &[u8],
        subtract: bool,
        ctx: &CallContext,
    ) -> StepResult {
        let (kind, delta): (NumKind, Vec<u8>) = args::<M, _>(bytes)?;
        let mut value = lock(&self.value);
        let new = arith(kind, &value.bytes, &delta, subtract)?;
        let old = std::mem::replace(&mut value.bytes, new.into());
        self.emit(&value, ctx);
        drop(value);
        reply::<M>(&Item::plain(old.into_vec()))
    }
}

/// `current ± delta`, both encoded as `kind`; integer overflow is an error (Python's
/// integers do not overflow, so wrapping silently would be wrong either way).
fn arith(kind: NumKind, current: &[u8], delta: &[u8], subtract: bool) -> Result<Vec<u8>, RemoteError> {
    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], kind: NumKind) -> Result<T, RemoteError> {
        match postcard::take_from_bytes::<T>(bytes) {
            Ok((v, [])) => Ok(v),
            _ => Err(err(RemoteErrorKind::Decode, format!("the value is not a number of kind {kind:?}"))),
        }
    }
    fn out<T: serde::Serialize>(v: T) -> Result<Vec<u8>, RemoteError> {
        postcard::to_allocvec(&v).map_err(|e| err(RemoteErrorKind::Protocol, e.to_string()))
    }
    macro_rules! int {
        ($t:ty) => {{
            let (a, b) = (decode::<$t>(current, kind)?, decode::<$t>(delta, kind)?);
            let r = if subtract { a.checked_sub(b) } else { a.checked_add(b) };
            out(r.ok_or_else(|| {
                err(
                    RemoteErrorKind::Overflow,
                    format!("{a} {} {b} overflows {kind:?}", if subtract { '-' } else { '+' }),
                )
            })?)
        }};
    }
    macro_rules! float {
        ($t:ty) => {{
            let (a, b) = (decode::<$t>(current, kind)?, decode::<$t>(delta, kind)?);
            out(if subtract { a - b } else { a + b })
        }};
    }
    match kind {
        NumKind::I8 => int!(i8),
        NumKind::I16 => int!(i16),
        NumKind::I32 => int!(i32),
        NumKind::I64 => int!(i64),
        NumKind::I128 => int!(i128),
        NumKind::U8 => int!(u8),
        NumKind::U16 => int!(u16),
        NumKind::U32 => int!(u32),
        NumKind::U64 => int!(u64),
        NumKind::U128 => int!(u128),
        NumKind::F32 => float!(f32),
        NumKind::F64 => float!(f64),
    }
}

impl Watched for Value {
    fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    fn snapshot(&self, id: u64, ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
        let value = lock(&self.value);
        let events = self.watchers.resync(id, out);
        super::watch::encode_state(&value.as_item(ctx)?, out)?;
        Ok(events)
    }
}

impl ServerObject for Value {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(v::NAMES, v::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        ready(resolve(TYPE_ID, v::NAMES, v::IDS, method).and_then(|id| self.run(id, bytes, ctx)))
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        ready(lock(&self.value).reply::<v::Get>(ctx))
    }

    fn open(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Result<BoxSource, RemoteError> {
        match resolve(TYPE_ID, v::NAMES, v::IDS, method)? {
            v::Watch::ID => {
                let () = args::<v::Watch, _>(bytes)?;
                Ok(Watchers::subscribe(self, ctx))
            }
            id => Err(super::not_a_stream("Value", v::NAMES, v::IDS, id)),
        }
    }

    fn render(&self, types: &[&str], out: &mut manager_proto::repr::Repr) {
        let value = lock(&self.value);
        match types.first() {
            Some(ty) => {
                out.push("Value(");
                manager_proto::repr::element(ty, &value.bytes, out);
                out.push(")");
            }
            // Made without a type (the standalone server's `--named`): its size only.
            None => out.push(&format!("Value(<{} bytes>)", value.bytes.len())),
        }
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        lock(&self.value).refs.report(out);
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: serde::Serialize>(v: T) -> Vec<u8> {
        postcard::to_allocvec(&v).unwrap()
    }

    #[test]
    fn arithmetic_on_encodings() {
        assert_eq!(arith(NumKind::I64, &enc(5i64), &enc(-7i64), false).unwrap(), enc(-2i64));
        assert_eq!(arith(NumKind::U8, &enc(250u8), &enc(5u8), false).unwrap(), enc(255u8));
        assert!(arith(NumKind::U8, &enc(250u8), &enc(6u8), false).is_err());
        assert!(arith(NumKind::U32, &enc(0u32), &enc(1u32), true).is_err());
        assert_eq!(arith(NumKind::F64, &enc(1.5f64), &enc(0.25f64), true).unwrap(), enc(1.25f64));
        // A value that is not of the kind asked for.
        assert!(arith(NumKind::F64, &enc("text"), &enc(1.0f64), false).is_err());
    }
}
