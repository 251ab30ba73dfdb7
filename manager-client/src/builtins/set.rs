//! `set` proxies.

use manager_proto::Item;

use super::{Data, SMALL_ITEM, call, items, proxy_methods, proxy_types, small_item, value, values};

proxy_types!(
    /// A shared `set` (Python 3.14's `SyncManager.set`): elements compared by their
    /// encoding. Create with `client.set()`.
    SetProxy, BlockingSetProxy, [T], manager_proto::builtin::SET
);

proxy_methods! {
    impl[T: Data] SetProxy<T>, BlockingSetProxy {
        /// `s.add(v)`.
        async fn add(&self, v: T) -> () {
            let mut stack = [0; SMALL_ITEM];
            let v = small_item(&self.handle, &v, "a set element", &mut stack)?;
            call(&self.handle, "add", &(v,), "set.add").await
        }

        /// `s.discard(v)`: removes it if present.
        async fn discard(&self, v: &T) -> () {
            let mut stack = [0; SMALL_ITEM];
            let v = small_item(&self.handle, v, "a set element", &mut stack)?;
            call(&self.handle, "discard", &(v,), "set.discard").await
        }

        /// `s.remove(v)`: a `KeyNotFound` error if absent.
        async fn remove(&self, v: &T) -> () {
            let mut stack = [0; SMALL_ITEM];
            let v = small_item(&self.handle, v, "a set element", &mut stack)?;
            call(&self.handle, "remove", &(v,), "set.remove").await
        }

        /// `v in s`.
        async fn contains(&self, v: &T) -> bool {
            let mut stack = [0; SMALL_ITEM];
            let v = small_item(&self.handle, v, "a set element", &mut stack)?;
            call(&self.handle, "contains", &(v,), "set.contains").await
        }

        /// `len(s)`.
        async fn len(&self) -> usize {
            call::<_, u64>(&self.handle, "len", &(), "set.len").await.map(|n| n as usize)
        }

        /// `len(s) == 0`.
        async fn is_empty(&self) -> bool {
            call::<_, u64>(&self.handle, "len", &(), "set.len").await.map(|n| n == 0)
        }

        /// `s.pop()`: removes and returns an element; `KeyNotFound` if empty.
        async fn pop(&self) -> T {
            let got: Item = call(&self.handle, "pop", &(), "set.pop").await?;
            value(&self.handle, &got, "a set element")
        }

        /// `s.clear()`.
        async fn clear(&self) -> () {
            call(&self.handle, "clear", &(), "set.clear").await
        }

        /// A copy of the elements.
        async fn snapshot(&self) -> Vec<T> {
            let got: Vec<Item> = call(&self.handle, "snapshot", &(), "set.snapshot").await?;
            values(&self.handle, &got, "a set element")
        }

        /// `s | other`, as elements; `s` is unchanged.
        async fn union(&self, other: &[T]) -> Vec<T> {
            self.op("union", other).await
        }

        /// `s & other`.
        async fn intersection(&self, other: &[T]) -> Vec<T> {
            self.op("intersection", other).await
        }

        /// `s - other`.
        async fn difference(&self, other: &[T]) -> Vec<T> {
            self.op("difference", other).await
        }

        /// `s ^ other`.
        async fn symmetric_difference(&self, other: &[T]) -> Vec<T> {
            self.op("symmetric_difference", other).await
        }

        /// `s |= other`.
        async fn update(&self, other: &[T]) -> () {
            self.op_in_place("update", other).await
        }

        /// `s &= other`.
        async fn intersection_update(&self, other: &[T]) -> () {
            self.op_in_place("intersection_update", other).await
        }

        /// `s -= other`.
        async fn difference_update(&self, other: &[T]) -> () {
            self.op_in_place("difference_update", other).await
        }

        /// `s ^= other`.
        async fn symmetric_difference_update(&self, other: &[T]) -> () {
            self.op_in_place("symmetric_difference_update", other).await
        }

        /// `s.isdisjoint(other)`.
        async fn is_disjoint(&self, other: &[T]) -> bool {
            let other = items(&self.handle, other, "a set element")?;
            call(&self.handle, "isdisjoint", &(other,), "set.isdisjoint").await
        }

        /// `s <= other`.
        async fn is_subset(&self, other: &[T]) -> bool {
            let other = items(&self.handle, other, "a set element")?;
            call(&self.handle, "issubset", &(other,), "set.issubset").await
        }

        /// `s >= other`.
        async fn is_superset(&self, other: &[T]) -> bool {
            let other = items(&self.handle, other, "a set element")?;
            call(&self.handle, "issuperset", &(other,), "set.issuperset").await
        }
    }
}

impl<T: Data> SetProxy<T> {
    async fn op(&self, name: &str, other: &[T]) -> Result<Vec<T>, manager_proto::Error> {
        let other = items(&self.handle, other, "a set element")?;
        let got: Vec<Item> = call(&self.handle, name, &(other,), "a set operation").await?;
        values(&self.handle, &got, "a set element")
    }

    async fn op_in_place(&self, name: &str, other: &[T]) -> Result<(), manager_proto::Error> {
        let other = items(&self.handle, other, "a set element")?;
        call(&self.handle, name, &(other,), "a set operation").await
    }
}
