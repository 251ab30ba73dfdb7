//! What a built-in's changes hold for its watchers: elements, and the references of the
//! proxies in them, handed to each watcher's connection as the change is sent (the hub
//! itself is `crate::watch`).

use manager_proto::ObjectId;
use manager_proto::element::ItemRef;
use serde::Serialize;

use crate::watch::{Event, HandOut, encode_change};
pub(crate) use crate::watch::{Watched, Watchers, encode_state};

use super::{Element, Refs};
use crate::object::CallContext;

impl Watchers {
    /// Records one change (call it under the object's mutex, after applying it): `change`
    /// makes it (the change and the objects its proxies name) only if anyone watches.
    pub(crate) fn emit<C: Serialize>(&self, ctx: &CallContext, change: impl FnOnce() -> (C, Vec<ObjectId>)) {
        if self.count() == 0 {
            return;
        }
        self.push(|version| {
            let (change, ids) = change();
            let bytes = encode_change(version, &change)?;
            let refs: Box<dyn HandOut> = Box::new(Refs::take(ids, ctx)?);
            Ok(Event { bytes: bytes.into_boxed_slice(), refs: Some(refs) })
        });
    }
}

impl HandOut for Refs {
    fn hand_out(&self, ctx: &CallContext) -> Result<(), manager_proto::RemoteError> {
        Refs::hand_out(self, ctx)
    }
}

/// An element as a change carries it: its bytes and the ids its proxies name (taken
/// for the change by [`Watchers::emit`], handed to each watcher as it is sent).
pub(crate) fn item_of(e: &Element) -> ItemRef<'_> {
    ItemRef { bytes: &e.bytes, refs: e.refs.ids().to_vec() }
}
