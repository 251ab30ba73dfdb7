//! `Inspect`'s answers, from the table, the objects and the connections' own reports
//! (gathered by a [`Census`](crate::census::Census)): what `manager-cli ls`, `show` and
//! `conns` print.
//!
//! Nothing here runs on the call path: an `Inspect` reads the table under its lock once
//! (ids, counts, fingerprints, names), then asks each object for its rendering and its
//! lock holders under the object's own lock, one at a time.

use manager_proto::fingerprint::short_name;
use manager_proto::inspect::{ConnectionReport, Holder, ObjectReport, Query, REPR_MAX};
use manager_proto::repr::{Repr, element_types};
use manager_proto::{ObjectId, RemoteError, RemoteErrorKind};
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;

use crate::object::ServerObject;
use crate::state::Shared;
use crate::table::Row;

/// What an `Inspect` asked, owned: its answer is made after the request's frame is gone.
#[derive(Clone, Debug)]
pub(crate) enum Wanted {
    /// Every object, or those of one type id.
    Objects(Option<String>),
    /// One object.
    Object(ObjectId),
    /// Every connection.
    Connections,
}

impl From<Query<'_>> for Wanted {
    fn from(query: Query<'_>) -> Wanted {
        match query {
            Query::Objects { type_id } => Wanted::Objects(type_id.map(str::to_owned)),
            Query::Object { id } => Wanted::Object(id),
            Query::Connections => Wanted::Connections,
        }
    }
}

/// The answer to `wanted`, encoded, given every connection's report.
pub(crate) fn answer(shared: &Shared, wanted: &Wanted, conns: Vec<ConnectionReport>) -> Result<Vec<u8>, RemoteError> {
    let encoded = match wanted {
        Wanted::Connections => postcard::to_allocvec(&connections(shared, conns)),
        Wanted::Objects(type_id) => postcard::to_allocvec(&objects(shared, &conns, |_, o| {
            type_id.as_deref().is_none_or(|t| o.shared_type_id() == t)
        })),
        Wanted::Object(id) => {
            let found = objects(shared, &conns, |oid, _| oid == *id);
            if found.is_empty() {
                return Err(RemoteError::new(
                    RemoteErrorKind::NoSuchObject,
                    format!("no object {id} on this server (it was dropped, or never existed)"),
                ));
            }
            postcard::to_allocvec(&found)
        }
    };
    encoded.map_err(|e| RemoteError::new(RemoteErrorKind::Decode, format!("encoding the inspection: {e}")))
}

/// The objects `keep` picks, with their holders among `conns`.
fn objects(
    shared: &Shared,
    conns: &[ConnectionReport],
    keep: impl Fn(ObjectId, &dyn ServerObject) -> bool,
) -> Vec<ObjectReport> {
    let (rows, names) = shared.table.rows(|id, o| keep(id, o));
    let mut holders: HashMap<ObjectId, Vec<Holder>> = HashMap::new();
    for conn in conns {
        for held in &conn.refs_held {
            holders.entry(held.object).or_default().push(Holder { connection: conn.id, refs: held.refs });
        }
    }
    let mut named: HashMap<ObjectId, Vec<String>> = HashMap::new();
    for (name, id) in names {
        named.entry(id).or_default().push(name);
    }
    rows.into_iter()
        .map(|row| ObjectReport {
            id: row.id,
            type_id: row.object.shared_type_id().to_owned(),
            refs: row.refs,
            holders: holders.remove(&row.id).unwrap_or_default(),
            names: named.remove(&row.id).unwrap_or_default(),
            repr: repr(&row),
        })
        .collect()
}

/// `conns` with the locks each holds: every object is asked who holds it.
fn connections(shared: &Shared, mut conns: Vec<ConnectionReport>) -> Vec<ConnectionReport> {
    let (rows, _) = shared.table.rows(|_, _| true);
    let mut locks: BTreeMap<u64, Vec<ObjectId>> = BTreeMap::new();
    let mut holders = Vec::new();
    for row in &rows {
        holders.clear();
        // A panic here would be a bug in a built-in: leave that object out.
        if std::panic::catch_unwind(AssertUnwindSafe(|| row.object.holders(&mut holders))).is_err() {
            continue;
        }
        for conn in &holders {
            locks.entry(*conn).or_default().push(row.id);
        }
    }
    for conn in &mut conns {
        conn.locks_held = locks.remove(&conn.id).unwrap_or_default();
    }
    conns
}

/// The object's rendering, or `<type #id>` when it gives none.
fn repr(row: &Row<dyn ServerObject>) -> String {
    let types = element_types(row.fingerprint.as_deref().unwrap_or_default());
    let mut out = Repr::new(REPR_MAX);
    let rendered = std::panic::catch_unwind(AssertUnwindSafe(|| row.object.render(&types, &mut out)));
    let text = if rendered.is_ok() { out.finish() } else { String::new() };
    if !text.is_empty() {
        return text;
    }
    let mut out = Repr::new(REPR_MAX);
    out.push(&format!("<{} #{}>", short_name(row.object.shared_type_id()), row.id.0));
    out.finish()
}
