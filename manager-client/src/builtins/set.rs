//! `set` proxies.

use manager_proto::builtin::set as st;
use manager_proto::contract::Method;
use manager_proto::{BlockingStream, Item};

use super::elements::{self, Elements};
use super::{Data, SMALL_ITEM, call, constructors, items, proxy_methods, proxy_types, small_item, value, values};

proxy_types!(
    /// A shared `set` (Python 3.14's `SyncManager.set`): elements compared by their
    /// encoding. Create with `client.set()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// let s = client.set::<u32>().await?; // s = manager.set()
    /// s.add(1).await?; // s.add(1)
    /// s.add(1).await?; // already there: no change
    /// s.update(&[2, 3]).await?; // s |= {2, 3}
    /// assert_eq!(s.len().await?, 3); // len(s)
    /// assert!(s.contains(&2).await?); // 2 in s
    /// assert_eq!(s.intersection(&[3, 4]).await?, [3]); // s & {3, 4}
    /// s.discard(&1).await?; // s.discard(1)
    /// assert!(!s.contains(&1).await?);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::SetProxy`](crate::blocking::SetProxy),
    /// the same methods without `.await`.
    SetProxy, BlockingSetProxy, [T], manager_proto::builtin::SET
);

proxy_methods! {
    impl[T: Data] SetProxy<T>, BlockingSetProxy {
        /// `s.add(v)`.
        async fn add(&self, v: T) -> () {
            let mut stack = [0; SMALL_ITEM];
            let v = small_item(&self.handle, &v, "a set element", &mut stack)?;
            call::<st::Add, _>(&self.handle, &(v,)).await
        }

        /// `s.discard(v)`: removes it if present.
        async fn discard(&self, v: &T) -> () {
            let mut stack = [0; SMALL_ITEM];
            let v = small_item(&self.handle, v, "a set element", &mut stack)?;
            call::<st::Discard, _>(&self.handle, &(v,)).await
        }

        /// `s.remove(v)`: a `KeyNotFound` error showing `v` (its `Debug` form) if
        /// absent.
        async fn remove(&self, v: &T) -> () where [T: std::fmt::Debug] {
            let mut stack = [0; SMALL_ITEM];
            let encoded = small_item(&self.handle, v, "a set element", &mut stack)?;
            super::with_key(call::<st::Remove, _>(&self.handle, &(encoded,)).await, &v, "set")
        }

        /// `v in s`.
        async fn contains(&self, v: &T) -> bool {
            let mut stack = [0; SMALL_ITEM];
            let v = small_item(&self.handle, v, "a set element", &mut stack)?;
            call::<st::Contains, _>(&self.handle, &(v,)).await
        }

        /// `len(s)`.
        async fn len(&self) -> usize {
            call::<st::Len, u64>(&self.handle, &()).await.map(|n| n as usize)
        }

        /// `len(s) == 0`.
        async fn is_empty(&self) -> bool {
            call::<st::Len, u64>(&self.handle, &()).await.map(|n| n == 0)
        }

        /// `s.pop()`: removes and returns an element; `KeyNotFound` if empty.
        async fn pop(&self) -> T {
            let got: Item = call::<st::Pop, _>(&self.handle, &()).await?;
            value(&self.handle, &got, "a set element")
        }

        /// `s.clear()`.
        async fn clear(&self) -> () {
            call::<st::Clear, _>(&self.handle, &()).await
        }

        /// A one-shot copy of the elements (the live view is [`iter`](Self::iter)).
        async fn snapshot(&self) -> Vec<T> {
            let got: Vec<Item> = call::<st::Snapshot, _>(&self.handle, &()).await?;
            values(&self.handle, &got, "a set element")
        }

        /// `s | other`, as elements; `s` is unchanged.
        async fn union(&self, other: &[T]) -> Vec<T> {
            self.op::<st::Union>(other).await
        }

        /// `s & other`.
        async fn intersection(&self, other: &[T]) -> Vec<T> {
            self.op::<st::Intersection>(other).await
        }

        /// `s - other`.
        async fn difference(&self, other: &[T]) -> Vec<T> {
            self.op::<st::Difference>(other).await
        }

        /// `s ^ other`.
        async fn symmetric_difference(&self, other: &[T]) -> Vec<T> {
            self.op::<st::SymmetricDifference>(other).await
        }

        /// `s |= other`.
        async fn update(&self, other: &[T]) -> () {
            self.op_in_place::<st::Update>(other).await
        }

        /// `s &= other`.
        async fn intersection_update(&self, other: &[T]) -> () {
            self.op_in_place::<st::IntersectionUpdate>(other).await
        }

        /// `s -= other`.
        async fn difference_update(&self, other: &[T]) -> () {
            self.op_in_place::<st::DifferenceUpdate>(other).await
        }

        /// `s ^= other`.
        async fn symmetric_difference_update(&self, other: &[T]) -> () {
            self.op_in_place::<st::SymmetricDifferenceUpdate>(other).await
        }

        /// `s.isdisjoint(other)`.
        async fn is_disjoint(&self, other: &[T]) -> bool {
            let other = items(&self.handle, other, "a set element")?;
            call::<st::IsDisjoint, _>(&self.handle, &(other,)).await
        }

        /// `s <= other`.
        async fn is_subset(&self, other: &[T]) -> bool {
            let other = items(&self.handle, other, "a set element")?;
            call::<st::IsSubset, _>(&self.handle, &(other,)).await
        }

        /// `s >= other`.
        async fn is_superset(&self, other: &[T]) -> bool {
            let other = items(&self.handle, other, "a set element")?;
            call::<st::IsSuperset, _>(&self.handle, &(other,)).await
        }
    }
}

impl<T: Data> SetProxy<T> {
    /// `for x in s`: the elements, in insertion order, as a live stream — the server
    /// reads the set a batch at a time (as the stream's window allows), holding its lock
    /// only while it reads one. As in Python, a set that changes size meanwhile ends the
    /// stream with a
    /// [`ChangedDuringIteration`](manager_proto::RemoteErrorKind::ChangedDuringIteration)
    /// error ("Set changed size during iteration"), after the elements already sent.
    /// One whose elements changed with the size the same fails too ("Set changed during
    /// iteration"), where Python's iterator goes on and may skip or repeat elements.
    /// [`snapshot`](Self::snapshot) makes a one-shot copy.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
    /// let s = client.set_from(&[3u32, 1, 2]).await?;
    /// let mut sum = 0;
    /// let mut it = s.iter();
    /// while let Some(x) = it.next().await {
    ///     sum += x?;
    /// }
    /// assert_eq!(sum, 6);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> Elements<T> {
        elements::open::<st::Iter, T>(&self.handle, &(), elements::element)
    }

    async fn op<M: Method<Args = (Vec<Item>,), Reply = Vec<Item>>>(
        &self,
        other: &[T],
    ) -> Result<Vec<T>, manager_proto::Error> {
        let other = items(&self.handle, other, "a set element")?;
        let got: Vec<Item> = call::<M, _>(&self.handle, &(other,)).await?;
        values(&self.handle, &got, "a set element")
    }

    async fn op_in_place<M: Method<Args = (Vec<Item>,), Reply = ()>>(
        &self,
        other: &[T],
    ) -> Result<(), manager_proto::Error> {
        let other = items(&self.handle, other, "a set element")?;
        call::<M, _>(&self.handle, &(other,)).await
    }
}

impl<T: Data> BlockingSetProxy<T> {
    /// `for x in s`, live, as an iterator (see [`SetProxy::iter`]).
    pub fn iter(&self) -> BlockingStream<Elements<T>> {
        BlockingStream::new(self.inner.iter(), self.exec.clone())
    }
}

constructors! {
    /// A new, empty shared `set`.
    fn set[T: Data](&self) -> SetProxy<T> | BlockingSetProxy<T> {
        self.set_from(&[]).await
    }

    /// A new shared `set` holding `items`.
    fn set_from[T: Data](&self, items: &[T]) -> SetProxy<T> | BlockingSetProxy<T> {
        let raw = self.encode_all(items, "a set element")?;
        self.create_builtin::<_, st::New>(&(raw,)).await
    }
}
