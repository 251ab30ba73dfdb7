//! The object table: every live object, its reference count, and the names.
//!
//! A reference is held by a connection (however many proxies that connection's client
//! has, it counts once here; the connection counts its own), by a name, by a container
//! that stores a token, or by a token's lease (`leases.rs`). An object whose count
//! reaches zero leaves the table and is dropped as soon as no call on it is still
//! running. Ids are never reused within a run, so a token outliving its object fails to
//! attach instead of reaching another object.

use manager_proto::{ObjectId, RemoteError, RemoteErrorKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// What the table needs of an object: its type id, for the counts by type.
pub(crate) trait Typed: Send + Sync {
    fn type_name(&self) -> &str;
}

/// What an object's creator said its proxies must agree on beyond its type id (see
/// `manager_proto::fingerprint`); `None` checks nothing.
pub(crate) type Fingerprint = Option<Arc<str>>;

/// One live object.
struct Entry<O: ?Sized> {
    /// The object.
    object: Arc<O>,
    /// Holders: connections, names, containers.
    refs: u64,
    /// Returned with every reference handed out, for the client to check.
    fingerprint: Fingerprint,
    /// The table's clock when `refs` last changed: the cycle collector frees nothing
    /// whose count moved while it looked.
    stamp: u64,
}

struct Inner<O: ?Sized> {
    objects: HashMap<ObjectId, Entry<O>>,
    names: BTreeMap<String, ObjectId>,
    /// Ticks at every change of a count.
    clock: u64,
}

impl<O: ?Sized> Inner<O> {
    /// The next tick.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

impl<O: ?Sized> Default for Inner<O> {
    fn default() -> Self {
        Inner { objects: HashMap::new(), names: BTreeMap::new(), clock: 0 }
    }
}

/// One object as the cycle collector sees it: its id, the object, its count, and when
/// the count last changed.
pub(crate) struct Seen<O: ?Sized> {
    pub(crate) id: ObjectId,
    pub(crate) object: Arc<O>,
    pub(crate) refs: u64,
    pub(crate) stamp: u64,
}

/// One object as `Inspect` sees it: its id, the object, its count and fingerprint.
pub(crate) struct Row<O: ?Sized> {
    pub(crate) id: ObjectId,
    pub(crate) object: Arc<O>,
    pub(crate) refs: u64,
    pub(crate) fingerprint: Fingerprint,
}

/// The table, of objects `O` (the server's `dyn ServerObject`: generic so that this
/// module depends on nothing of the object API, which depends on it). Its lock is held
/// only for map operations, never across a call or an await, and objects are dropped
/// after it is released.
pub(crate) struct ObjectTable<O: ?Sized> {
    inner: Mutex<Inner<O>>,
    /// The next object id; ids are never reused within a run.
    next_id: AtomicU64,
    /// Told when an object leaves the table, so its memory can go back to the system
    /// (see `memory`).
    pub(crate) freed: Arc<Notify>,
    /// References released since start: the periodic cycle collector runs only when
    /// this moved (a cycle is made garbage only by a release).
    pub(crate) releases: AtomicU64,
}

impl<O: ?Sized> Default for ObjectTable<O> {
    fn default() -> Self {
        ObjectTable {
            inner: Mutex::default(),
            next_id: AtomicU64::new(0),
            freed: Arc::default(),
            releases: AtomicU64::new(0),
        }
    }
}

impl<O: ?Sized + Typed> std::fmt::Debug for ObjectTable<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Table").field("objects", &inner.objects.len()).field("names", &inner.names.len()).finish()
    }
}

fn no_such_object(id: ObjectId) -> RemoteError {
    RemoteError::new(
        RemoteErrorKind::NoSuchObject,
        format!("no object {id} on this server (it was dropped, or never existed)"),
    )
}

impl<O: ?Sized + Typed> ObjectTable<O> {
    fn lock(&self) -> MutexGuard<'_, Inner<O>> {
        // A panic never happens while the lock is held (map operations only), but do
        // not let a poisoned lock take the server down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an object with one reference (its creator's) and returns its id.
    pub(crate) fn insert(&self, object: Arc<O>, fingerprint: Fingerprint) -> ObjectId {
        let id = ObjectId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let mut inner = self.lock();
        let stamp = inner.tick();
        inner.objects.insert(id, Entry { object, refs: 1, fingerprint, stamp });
        id
    }

    /// The object `id`, without taking a reference (its caller holds one).
    pub(crate) fn get(&self, id: ObjectId) -> Result<Arc<O>, RemoteError> {
        self.lock().objects.get(&id).map(|e| Arc::clone(&e.object)).ok_or_else(|| no_such_object(id))
    }

    /// Takes one more reference to `id`.
    pub(crate) fn incref(&self, id: ObjectId) -> Result<Arc<O>, RemoteError> {
        self.take(id).map(|(object, _)| object)
    }

    /// Takes one more reference to `id`, for a client that gets a proxy to it: the
    /// object and its fingerprint.
    pub(crate) fn take(&self, id: ObjectId) -> Result<(Arc<O>, Fingerprint), RemoteError> {
        let mut inner = self.lock();
        let stamp = inner.tick();
        let entry = inner.objects.get_mut(&id).ok_or_else(|| no_such_object(id))?;
        entry.refs += 1;
        entry.stamp = stamp;
        Ok((Arc::clone(&entry.object), entry.fingerprint.clone()))
    }

    /// The fingerprint of `id` (`None` for none, or no such object).
    pub(crate) fn fingerprint(&self, id: ObjectId) -> Fingerprint {
        self.lock().objects.get(&id).and_then(|entry| entry.fingerprint.clone())
    }

    /// Releases one reference to `id`; the object leaves the table with its last one.
    pub(crate) fn release(&self, id: ObjectId) {
        self.releases.fetch_add(1, Ordering::Relaxed);
        let dropped = {
            let mut inner = self.lock();
            let stamp = inner.tick();
            match inner.objects.get_mut(&id) {
                Some(entry) if entry.refs > 1 => {
                    entry.refs -= 1;
                    entry.stamp = stamp;
                    None
                }
                Some(_) => inner.objects.remove(&id),
                None => None,
            }
        };
        // Dropped here, outside the lock: dropping a container may release others.
        if dropped.is_some() {
            drop(dropped);
            self.freed.notify_one();
        }
    }

    /// Gives `id` a name, which holds a reference until the server stops.
    pub(crate) fn bind_name(&self, name: &str, id: ObjectId) -> Result<(), RemoteError> {
        let mut inner = self.lock();
        if inner.names.contains_key(name) {
            return Err(RemoteError::new(RemoteErrorKind::InvalidValue, format!("the name `{name}` is already bound")));
        }
        let stamp = inner.tick();
        let entry = inner.objects.get_mut(&id).ok_or_else(|| no_such_object(id))?;
        entry.refs += 1;
        entry.stamp = stamp;
        inner.names.insert(name.to_owned(), id);
        Ok(())
    }

    /// Takes a reference to the object named `name`: its id, the object, and its
    /// fingerprint.
    pub(crate) fn get_named(&self, name: &str) -> Result<(ObjectId, Arc<O>, Fingerprint), RemoteError> {
        let mut inner = self.lock();
        let id = *inner.names.get(name).ok_or_else(|| {
            let known: Vec<&str> = inner.names.keys().map(String::as_str).collect();
            RemoteError::new(
                RemoteErrorKind::NoSuchName,
                format!("no object is named `{name}` (named: {})", known.join(", ")),
            )
        })?;
        let stamp = inner.tick();
        let entry = inner.objects.get_mut(&id).ok_or_else(|| no_such_object(id))?;
        entry.refs += 1;
        entry.stamp = stamp;
        Ok((id, Arc::clone(&entry.object), entry.fingerprint.clone()))
    }

    /// Live objects, named objects, and live objects per type id.
    pub(crate) fn counts(&self) -> (u64, u64, Vec<(String, u64)>) {
        let inner = self.lock();
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for entry in inner.objects.values() {
            *by_type.entry(entry.object.type_name()).or_default() += 1;
        }
        (
            inner.objects.len() as u64,
            inner.names.len() as u64,
            by_type.into_iter().map(|(t, n)| (t.to_owned(), n)).collect(),
        )
    }

    /// Every object with its count and stamp, for the cycle collector (which asks the
    /// objects for their references after the table's lock is released).
    pub(crate) fn snapshot(&self) -> Vec<Seen<O>> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .map(|(id, e)| Seen { id: *id, object: Arc::clone(&e.object), refs: e.refs, stamp: e.stamp })
            .collect()
    }

    /// The objects `keep` picks, sorted by id, and every name with its object, for
    /// `Inspect` (which renders the objects after the table's lock is released).
    pub(crate) fn rows(&self, keep: impl Fn(ObjectId, &O) -> bool) -> (Vec<Row<O>>, Vec<(String, ObjectId)>) {
        let inner = self.lock();
        let mut rows: Vec<Row<O>> = inner
            .objects
            .iter()
            .filter(|(id, e)| keep(**id, &e.object))
            .map(|(id, e)| Row {
                id: *id,
                object: Arc::clone(&e.object),
                refs: e.refs,
                fingerprint: e.fingerprint.clone(),
            })
            .collect();
        let names = inner.names.iter().map(|(name, id)| (name.clone(), *id)).collect();
        drop(inner);
        rows.sort_by_key(|r| r.id);
        (rows, names)
    }

    /// Removes the objects `choose` picks, atomically with its choice: it runs under the
    /// table's lock, given each object's current stamp (`None`: gone), so a choice made
    /// on counts that have not moved still holds when the objects leave. Returns them,
    /// to be dropped after the lock is released (their elements release others).
    pub(crate) fn remove_chosen(
        &self,
        choose: impl FnOnce(&dyn Fn(ObjectId) -> Option<u64>) -> Vec<ObjectId>,
    ) -> Vec<Arc<O>> {
        let mut inner = self.lock();
        let chosen = {
            let objects = &inner.objects;
            choose(&|id| objects.get(&id).map(|e| e.stamp))
        };
        let removed: Vec<Arc<O>> = chosen.iter().filter_map(|id| inner.objects.remove(id)).map(|e| e.object).collect();
        if !removed.is_empty() {
            inner.tick();
        }
        removed
    }

    /// Empties the table (at shutdown), dropping every object outside the lock.
    pub(crate) fn clear(&self) {
        let taken = std::mem::take(&mut *self.lock());
        drop(taken);
    }
}
