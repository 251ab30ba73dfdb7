//! Watching a built-in: the events of a `watch()` stream, the same types on the wire
//! (elements as [`Item`](crate::Item)s, proxies and all) and in the client's hands
//! (elements decoded as the caller's types).
//!
//! A watch starts with a [`Watch::Snapshot`] of the object and its version, then sends
//! every change in the order the server applied it, each with the next version. A
//! watcher that falls too far behind gets [`Watch::Lagged`] (how many changes it
//! missed), then a fresh snapshot, then changes again.

use serde::{Deserialize, Serialize};

/// One event of a watch: `S` the state a snapshot carries, `C` a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Watch<S, C> {
    /// The whole state, at `version`: first, and again after [`Lagged`](Watch::Lagged).
    Snapshot {
        /// The object's version when the snapshot was taken.
        version: u64,
        /// The state.
        state: S,
    },
    /// One change, applied at `version` (the previous event's version plus one).
    Change {
        /// The object's version after the change.
        version: u64,
        /// What changed.
        change: C,
    },
    /// The watcher fell behind and `missed` changes were dropped for it; a snapshot
    /// follows.
    Lagged {
        /// How many changes it missed.
        missed: u64,
    },
}

impl<S, C> Watch<S, C> {
    /// The event with its state and change converted (an element decoded, say).
    pub fn try_map<S2, C2, E>(
        self,
        state: impl FnOnce(S) -> Result<S2, E>,
        change: impl FnOnce(C) -> Result<C2, E>,
    ) -> Result<Watch<S2, C2>, E> {
        Ok(match self {
            Watch::Snapshot { version, state: s } => Watch::Snapshot { version, state: state(s)? },
            Watch::Change { version, change: c } => Watch::Change { version, change: change(c)? },
            Watch::Lagged { missed } => Watch::Lagged { missed },
        })
    }

    /// The event's version (`None` for `Lagged`).
    pub fn version(&self) -> Option<u64> {
        match self {
            Watch::Snapshot { version, .. } | Watch::Change { version, .. } => Some(*version),
            Watch::Lagged { .. } => None,
        }
    }
}

/// A change to a `dict`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DictChange<K, V> {
    /// A new key.
    Inserted {
        /// The key.
        key: K,
        /// Its value.
        value: V,
    },
    /// A key that was there got a new value.
    Updated {
        /// The key.
        key: K,
        /// Its new value.
        value: V,
    },
    /// A key left (`del`, `pop`, `popitem`).
    Removed {
        /// The key.
        key: K,
    },
    /// Every key left.
    Cleared,
}

/// A change to a `list`, as a splice: at `index`, `removed` elements were replaced by
/// `inserted`. Every edit is one: `append(x)` is `(len, 0, [x])`, `pop()` is
/// `(len - 1, 1, [])`, `l[i] = x` is `(i, 1, [x])`, `clear()` is `(0, len, [])`, and
/// what moves many elements (`sort`, `reverse`, `del l[::2]`) is `(0, len, new)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListChange<T> {
    /// Where the splice starts.
    pub index: usize,
    /// How many elements were removed from there.
    pub removed: usize,
    /// What was put in their place.
    pub inserted: Vec<T>,
}

impl<T> ListChange<T> {
    /// Applies the splice to `list` (a snapshot kept up to date); `false` (and `list`
    /// unchanged) if it does not fit.
    pub fn apply(self, list: &mut Vec<T>) -> bool {
        match self.index.checked_add(self.removed) {
            Some(end) if end <= list.len() => {
                list.splice(self.index..end, self.inserted);
                true
            }
            _ => false,
        }
    }
}

/// A change to a `set`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetChange<T> {
    /// An element came in.
    Added(T),
    /// An element left.
    Removed(T),
    /// Every element left.
    Cleared,
}

/// A change to a `Value`: its new value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueChange<T> {
    /// It holds this now (`set`, `swap`, `compare_exchange`, `fetch_add`...).
    Set(T),
}

/// A change to a `Namespace`. Its attributes are typed per call, so values travel as
/// [`Item`](crate::Item)s: decode one with the type you know the name to have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespaceChange<T> {
    /// An attribute was set.
    Set {
        /// Its name.
        name: String,
        /// Its value.
        value: T,
    },
    /// An attribute was deleted.
    Removed {
        /// Its name.
        name: String,
    },
}

/// A change to an `Event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventChange {
    /// `set()`: the flag is set.
    Set,
    /// `clear()`: it is not.
    Cleared,
}

/// A change to a `Queue`: its length after a `put` or a `get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueChange {
    /// How many items it holds now.
    pub len: u64,
}

/// The tag postcard writes before a [`Watch::Snapshot`].
pub const SNAPSHOT_TAG: u8 = 0;

/// A `#[shared(watch)]` object's change: which of its `&mut self` methods ran (each
/// call is one change, whatever it returned).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Called {
    /// The method's exposed name.
    pub method: String,
}

/// A `#[shared(watch)]` object's watch events: its version (the state is the object,
/// read through its proxy), then one [`Called`] per change.
pub type SharedWatch = Watch<(), Called>;

/// The stream method a `#[shared(watch)]` object's proxies open.
pub const WATCH_METHOD: &str = "watch";
/// The tag postcard writes before a [`Watch::Change`].
pub const CHANGE_TAG: u8 = 1;
/// The tag postcard writes before a [`Watch::Lagged`].
pub const LAGGED_TAG: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    /// The server writes an event's tag and version by hand, then the body: the same
    /// bytes postcard makes of the whole event.
    #[test]
    fn the_tags_are_postcards() {
        let snapshot: Watch<u8, u8> = Watch::Snapshot { version: 300, state: 7 };
        let change: Watch<u8, u8> = Watch::Change { version: 5, change: 9 };
        let lagged: Watch<u8, u8> = Watch::Lagged { missed: 2 };
        assert_eq!(postcard::to_allocvec(&snapshot).unwrap(), [SNAPSHOT_TAG, 0xac, 0x02, 7]);
        assert_eq!(postcard::to_allocvec(&change).unwrap(), [CHANGE_TAG, 5, 9]);
        assert_eq!(postcard::to_allocvec(&lagged).unwrap(), [LAGGED_TAG, 2]);
    }

    #[test]
    fn a_splice_applies_or_refuses() {
        let mut l = vec![1, 2, 3];
        assert!(ListChange { index: 1, removed: 1, inserted: vec![9, 9] }.apply(&mut l));
        assert_eq!(l, [1, 9, 9, 3]);
        assert!(!ListChange { index: 3, removed: 2, inserted: vec![] }.apply(&mut l));
        assert_eq!(l, [1, 9, 9, 3]);
    }
}
