//! An insertion-ordered map from encoded keys, with O(1) removal anywhere: the layout
//! of CPython's dict. `dict` and `set` keep their elements in one.
//!
//! Entries live in a vector in insertion order; a hash table maps each key to its
//! entry's position. Removing an entry leaves a hole, so nothing shifts (an `IndexMap`'s
//! order-keeping `shift_remove` moves every later entry: draining a million keys took
//! quadratic time). When holes outnumber entries, the vector is compacted and the table
//! rebuilt, which costs O(live entries) and happens after at least as many removals:
//! O(1) amortized per removal. Replacing a key's value keeps its place, and a key
//! inserted again after removal goes to the end, as in Python.
//!
//! A live iteration (`iteration.rs`) keeps a position in `entries`: positions stay
//! where they are while no key is added or removed, which `generation` counts.
//!
//! Keys come from peers, so the table hashes with SipHash under a per-map random key
//! (std's `RandomState`), as std's `HashMap` does.

use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// The map. `V` is what each key holds (a dict entry, a set member's references).
pub(crate) struct OrderedMap<V> {
    /// In insertion order; `None` where an entry was removed.
    entries: Vec<Option<(Vec<u8>, V)>>,
    /// The position in `entries` of each live key.
    table: HashTable<usize>,
    hasher: RandomState,
    /// Live entries.
    live: usize,
    /// No live entry comes before this position (holes at the front are skipped once).
    head: usize,
    /// Bumped whenever a key is added or removed (a value replaced in place does not
    /// bump it): while it is unchanged, every entry keeps its position and the keys are
    /// the ones a cursor saw. Wraps after 2^64 changes, which is as good as never.
    generation: u64,
}

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap {
            entries: Vec::new(),
            table: HashTable::new(),
            hasher: RandomState::new(),
            live: 0,
            head: 0,
            generation: 0,
        }
    }
}

/// Compaction waits for at least this many holes (a small map is not rebuilt for one).
const MIN_HOLES: usize = 32;

impl<V> OrderedMap<V> {
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Counts the changes to the keys (see the field): a cursor's position is good while
    /// this is what it was.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    fn changed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The position of `key`'s entry.
    fn position(&self, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.table
            .find(self.hash(key), |&i| entries.get(i).and_then(Option::as_ref).is_some_and(|(k, _)| k == key))
            .copied()
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        let at = self.position(key)?;
        self.entries.get(at)?.as_ref().map(|(_, v)| v)
    }

    pub(crate) fn contains_key(&self, key: &[u8]) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`: in place if present (returning the old value), else at
    /// the end.
    pub(crate) fn insert(&mut self, key: Vec<u8>, value: V) -> Option<V> {
        if let Some(slot) = self.position(&key).and_then(|at| self.entries.get_mut(at)).and_then(Option::as_mut) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.push(key, value);
        None
    }

    /// Adds `key` with `value` unless present; whether it was added (`value` is dropped
    /// otherwise).
    pub(crate) fn insert_if_absent(&mut self, key: Vec<u8>, value: V) -> bool {
        if self.contains_key(&key) {
            return false;
        }
        self.push(key, value);
        true
    }

    /// Appends a key known to be absent.
    fn push(&mut self, key: Vec<u8>, value: V) {
        let hash = self.hash(&key);
        let at = self.entries.len();
        self.entries.push(Some((key, value)));
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.table.insert_unique(hash, at, |&i| rehash(entries, hasher, i));
        self.live = self.live.saturating_add(1);
        self.changed();
    }

    /// Removes `key`, keeping the others' order: O(1) amortized.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<(Vec<u8>, V)> {
        let hash = self.hash(key);
        let entries = &self.entries;
        let found = self
            .table
            .find_entry(hash, |&i| entries.get(i).and_then(Option::as_ref).is_some_and(|(k, _)| k == key))
            .ok()?;
        let (at, _) = found.remove();
        self.take_at(at)
    }

    /// The entry at `at` leaves (its table slot is already gone).
    fn take_at(&mut self, at: usize) -> Option<(Vec<u8>, V)> {
        let taken = self.entries.get_mut(at)?.take()?;
        self.live = self.live.saturating_sub(1);
        self.changed();
        self.after_removal();
        Some(taken)
    }

    /// Drops trailing holes, and compacts when holes outnumber live entries.
    fn after_removal(&mut self) {
        while matches!(self.entries.last(), Some(None)) {
            self.entries.pop();
        }
        let holes = self.entries.len().saturating_sub(self.live);
        if holes >= MIN_HOLES && holes > self.live {
            self.compact();
        } else if self.live == 0 {
            self.entries.clear();
            self.head = 0;
        }
    }

    /// Closes every hole and rebuilds the table: O(live).
    fn compact(&mut self) {
        self.entries.retain(Option::is_some);
        self.entries.shrink_to(self.entries.len().saturating_mul(2));
        self.head = 0;
        self.table.clear();
        let (entries, hasher, table) = (&self.entries, &self.hasher, &mut self.table);
        for (i, entry) in entries.iter().enumerate() {
            if let Some((key, _)) = entry {
                table.insert_unique(hasher.hash_one(key.as_slice()), i, |&j| rehash(entries, hasher, j));
            }
        }
    }

    /// Removes and returns the newest entry (Python's `dict.popitem`).
    pub(crate) fn pop_last(&mut self) -> Option<(Vec<u8>, V)> {
        let at = self.entries.iter().rposition(Option::is_some)?;
        self.remove_position(at)
    }

    /// Removes and returns the oldest entry (`set.pop`).
    pub(crate) fn pop_first(&mut self) -> Option<(Vec<u8>, V)> {
        let skipped = self.entries.iter().skip(self.head).position(Option::is_some)?;
        let at = self.head.saturating_add(skipped);
        self.head = at;
        self.remove_position(at)
    }

    fn remove_position(&mut self, at: usize) -> Option<(Vec<u8>, V)> {
        let key = self.entries.get(at)?.as_ref().map(|(k, _)| k.as_slice())?;
        let hash = self.hash(key);
        if let Ok(found) = self.table.find_entry(hash, |&i| i == at) {
            found.remove();
        }
        self.take_at(at)
    }

    /// Empties the map, returning what it held (to be dropped outside a lock). The
    /// generation goes on, so a cursor opened before sees the change.
    pub(crate) fn take_all(&mut self) -> OrderedMap<V> {
        let generation = self.generation.wrapping_add(1);
        let empty = OrderedMap { hasher: self.hasher.clone(), generation, ..OrderedMap::default() };
        std::mem::replace(self, empty)
    }

    /// The first live entry at or after position `at`, with its position: a cursor's
    /// next step (O(1) amortized over an iteration, holes skipped once).
    pub(crate) fn next_from(&self, at: usize) -> Option<(usize, &[u8], &V)> {
        let from = at.max(self.head);
        let found = self.entries.get(from..)?.iter().position(Option::is_some)?;
        let at = from.saturating_add(found);
        let (key, value) = self.entries.get(at)?.as_ref()?;
        Some((at, key.as_slice(), value))
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &V)> + Clone {
        self.entries.iter().skip(self.head).filter_map(|e| e.as_ref().map(|(k, v)| (k, v)))
    }

    /// The keys, oldest first.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Vec<u8>> + Clone {
        self.iter().map(|(k, _)| k)
    }

    /// The values, oldest first.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + Clone {
        self.iter().map(|(_, v)| v)
    }

    /// Keeps the entries `keep` accepts (in order); returns the others. A map that
    /// loses nothing is left as it is (its positions too, so cursors go on).
    pub(crate) fn split_off_unless(&mut self, mut keep: impl FnMut(&[u8]) -> bool) -> Vec<(Vec<u8>, V)> {
        if self.keys().all(|k| keep(k)) {
            return Vec::new();
        }
        let mut removed = Vec::new();
        let generation = self.generation.wrapping_add(1);
        let mut kept = OrderedMap { hasher: self.hasher.clone(), generation, ..OrderedMap::default() };
        for (key, value) in std::mem::take(self) {
            if keep(&key) {
                kept.push(key, value);
            } else {
                removed.push((key, value));
            }
        }
        *self = kept;
        removed
    }
}

fn rehash<V>(entries: &[Option<(Vec<u8>, V)>], hasher: &RandomState, i: usize) -> u64 {
    entries.get(i).and_then(Option::as_ref).map_or(0, |(k, _)| hasher.hash_one(k.as_slice()))
}

impl<V> IntoIterator for OrderedMap<V> {
    type Item = (Vec<u8>, V);
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Option<(Vec<u8>, V)>>>;

    /// The entries, oldest first.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::indexing_slicing
    )]

    use super::*;
    use proptest::prelude::*;

    fn k(n: u32) -> Vec<u8> {
        n.to_le_bytes().to_vec()
    }

    #[test]
    fn order_is_insertion_order_and_a_replaced_value_keeps_its_place() {
        let mut m = OrderedMap::default();
        for n in 0..5 {
            assert_eq!(m.insert(k(n), n), None);
        }
        assert_eq!(m.insert(k(2), 20), Some(2));
        assert_eq!(m.remove(&k(1)), Some((k(1), 1)));
        m.insert(k(1), 10);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec![0, 20, 3, 4, 10]);
        assert_eq!(m.pop_last(), Some((k(1), 10)));
        assert_eq!(m.pop_first(), Some((k(0), 0)));
        assert_eq!(m.len(), 3);
        assert!(!m.insert_if_absent(k(3), 99));
        assert_eq!(m.get(&k(3)), Some(&3));
    }

    #[test]
    fn the_generation_moves_with_the_keys_and_positions_hold_while_it_does_not() {
        let mut m = OrderedMap::default();
        for n in 0..4 {
            m.insert(k(n), n);
        }
        let g = m.generation();
        let (at, key, _) = m.next_from(1).unwrap();
        assert_eq!((at, key), (1, k(1).as_slice()));
        // Values replaced in place, members that are there already, nothing removed by a
        // filter: no change.
        m.insert(k(1), 10);
        assert!(!m.insert_if_absent(k(2), 0));
        assert!(m.split_off_unless(|_| true).is_empty());
        assert_eq!(m.generation(), g);
        assert_eq!(m.next_from(1).map(|(at, _, v)| (at, *v)), Some((1, 10)));
        // A hole is skipped.
        m.remove(&k(2));
        assert_ne!(m.generation(), g);
        assert_eq!(m.next_from(2).map(|(at, _, v)| (at, *v)), Some((3, 3)));
        assert_eq!(m.next_from(4), None);
        // Emptied: the generation goes on (a cursor opened before must not match again).
        let g = m.generation();
        let old = m.take_all();
        assert_eq!((old.len(), m.len()), (3, 0));
        assert_ne!(m.generation(), g);
        let g = m.generation();
        m.insert(k(9), 9);
        assert!(m.split_off_unless(|_| false).len() == 1 && m.generation() != g);
    }

    #[test]
    fn draining_a_large_map_from_the_front_is_linear() {
        let n = 200_000u32;
        let mut m = OrderedMap::default();
        for i in 0..n {
            m.insert(k(i), i);
        }
        // Quadratic (shift_remove) would take minutes here; each removal must also keep
        // the rest in order.
        for i in 0..n {
            assert_eq!(m.remove(&k(i)).map(|(_, v)| v), Some(i));
            if i % 50_000 == 0 {
                assert_eq!(m.keys().next(), Some(&k(i + 1)));
            }
        }
        assert_eq!(m.len(), 0);
        assert!(m.entries.capacity() < 1024, "compacted");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        PopFirst,
        PopLast,
        Retain(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => any::<u8>().prop_map(Op::Remove),
            1 => Just(Op::PopFirst),
            1 => Just(Op::PopLast),
            1 => any::<u8>().prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// The map behaves as a vector of pairs kept in insertion order (the model).
        #[test]
        fn behaves_like_an_ordered_list_of_pairs(ops in proptest::collection::vec(op(), 1..400)) {
            let mut m = OrderedMap::default();
            let mut model: Vec<(Vec<u8>, u32)> = Vec::new();
            for op in ops {
                let (keys_before, generation) = (model.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), m.generation());
                match op {
                    Op::Insert(key, v) => {
                        let key = vec![key];
                        let old = match model.iter_mut().find(|(k, _)| *k == key) {
                            Some(slot) => Some(std::mem::replace(&mut slot.1, v)),
                            None => {
                                model.push((key.clone(), v));
                                None
                            }
                        };
                        prop_assert_eq!(m.insert(key, v), old);
                    }
                    Op::Remove(key) => {
                        let key = vec![key];
                        let expected = model.iter().position(|(k, _)| *k == key).map(|i| model.remove(i));
                        prop_assert_eq!(m.remove(&key), expected);
                    }
                    Op::PopFirst => {
                        let expected = (!model.is_empty()).then(|| model.remove(0));
                        prop_assert_eq!(m.pop_first(), expected);
                    }
                    Op::PopLast => prop_assert_eq!(m.pop_last(), model.pop()),
                    Op::Retain(bit) => {
                        let keep = |key: &[u8]| key[0] & (1 << (bit % 8)) != 0;
                        let removed = m.split_off_unless(keep);
                        let (kept, gone): (Vec<_>, Vec<_>) = model.drain(..).partition(|(k, _)| keep(k));
                        model = kept;
                        prop_assert_eq!(removed, gone);
                    }
                }
                prop_assert_eq!(m.len(), model.len());
                // The generation moves exactly when the keys change (a cursor's rule).
                let keys_changed = model.iter().map(|(k, _)| k).ne(keys_before.iter());
                prop_assert_eq!(m.generation() != generation, keys_changed);
                let got: Vec<(Vec<u8>, u32)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
                prop_assert_eq!(&got, &model);
                for (key, v) in &model {
                    prop_assert_eq!(m.get(key), Some(v));
                }
            }
        }
    }
}
