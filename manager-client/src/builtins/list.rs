//! `list` proxies.

use manager_proto::builtin::list as l;
use manager_proto::{BlockingStream, Item};

use super::elements::{self, Elements};
use super::{
    Data, One, call, call_element, call_with_item, constructors, item, items, proxy_methods, proxy_types, value, values,
};

proxy_types!(
    /// A shared `list`, with Python's indexing: negative indexes count from the end, and
    /// an index out of range is an `IndexOutOfRange` error. Create with `client.list()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use manager_client::RemoteErrorKind;
    /// let l = client.list_from(&[3u32, 1, 2]).await?; // l = manager.list([3, 1, 2])
    /// l.append(0).await?; // l.append(0)
    /// assert_eq!(l.get(-1).await?, 0); // l[-1]
    /// l.sort().await?; // l.sort()
    /// assert_eq!(l.snapshot().await?, [0, 1, 2, 3]); // l[:]
    /// assert_eq!(l.pop().await?, 3); // l.pop()
    /// assert_eq!(l.len().await?, 3); // len(l)
    /// let err = l.get(10).await.unwrap_err(); // l[10]: IndexError
    /// assert_eq!(err.remote_kind(), Some(RemoteErrorKind::IndexOutOfRange));
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::ListProxy`](crate::blocking::ListProxy),
    /// the same methods without `.await`.
    ListProxy, BlockingListProxy, [T], manager_proto::builtin::LIST
);

proxy_methods! {
    impl[T: Data] ListProxy<T>, BlockingListProxy {
        /// `l[i]`.
        async fn get(&self, i: i64) -> T {
            call_element::<l::Get, _, One>(&self.handle, &(i,), "a list element").await
        }

        /// `l[i] = v`.
        async fn set(&self, i: i64, v: T) -> () {
            let v = item(&self.handle, &v, "a list element")?;
            call_with_item::<l::Set, _, _, _>(&self.handle, &(i,), v, &()).await
        }

        /// `del l[i]`, returning the element.
        async fn delete(&self, i: i64) -> T {
            let got: Item = call::<l::Delete, _>(&self.handle, &(i,)).await?;
            value(&self.handle, &got, "a list element")
        }

        /// `l[start:stop:step]`.
        async fn slice(&self, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Vec<T> {
            let got: Vec<Item> = call::<l::Slice, _>(&self.handle, &(start, stop, step)).await?;
            values(&self.handle, &got, "a list element")
        }

        /// `l[start:stop] = new` (any length: the list grows or shrinks).
        async fn set_slice(&self, start: Option<i64>, stop: Option<i64>, new: Vec<T>) -> () {
            let new = items(&self.handle, &new, "a list element")?;
            call::<l::SetSlice, _>(&self.handle, &(start, stop, new)).await
        }

        /// `del l[start:stop:step]`.
        async fn delete_slice(&self, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> () {
            call::<l::DeleteSlice, _>(&self.handle, &(start, stop, step)).await
        }

        /// `l.append(v)`.
        async fn append(&self, v: T) -> () {
            let v = item(&self.handle, &v, "a list element")?;
            call_with_item::<l::Append, _, _, _>(&self.handle, &(), v, &()).await
        }

        /// `l.extend(vs)` (also `l += vs`), in one request.
        async fn extend(&self, vs: Vec<T>) -> () {
            let vs = items(&self.handle, &vs, "a list element")?;
            call::<l::Extend, _>(&self.handle, &(vs,)).await
        }

        /// `l.insert(i, v)`: like Python, a position out of range inserts at the end.
        async fn insert(&self, i: i64, v: T) -> () {
            let v = item(&self.handle, &v, "a list element")?;
            call_with_item::<l::Insert, _, _, _>(&self.handle, &(i,), v, &()).await
        }

        /// `l.pop()`: removes and returns the last element.
        async fn pop(&self) -> T {
            let got: Item = call::<l::Pop, _>(&self.handle, &(None::<i64>,)).await?;
            value(&self.handle, &got, "a list element")
        }

        /// `l.pop(i)`.
        async fn pop_at(&self, i: i64) -> T {
            let got: Item = call::<l::Pop, _>(&self.handle, &(Some(i),)).await?;
            value(&self.handle, &got, "a list element")
        }

        /// `l.remove(v)`: removes the first equal element; `InvalidValue` if none.
        async fn remove(&self, v: &T) -> () {
            let v = item(&self.handle, v, "a list element")?;
            call::<l::Remove, _>(&self.handle, &(v,)).await
        }

        /// `l.index(v)`: the first equal element's position; `InvalidValue` if none.
        async fn index(&self, v: &T) -> usize {
            let v = item(&self.handle, v, "a list element")?;
            call::<l::Index, u64>(&self.handle, &(v, None::<i64>, None::<i64>)).await.map(|i| i as usize)
        }

        /// `l.index(v, start, stop)`.
        async fn index_in(&self, v: &T, start: Option<i64>, stop: Option<i64>) -> usize {
            let v = item(&self.handle, v, "a list element")?;
            call::<l::Index, u64>(&self.handle, &(v, start, stop)).await.map(|i| i as usize)
        }

        /// `l.count(v)`.
        async fn count(&self, v: &T) -> usize {
            let v = item(&self.handle, v, "a list element")?;
            call::<l::Count, u64>(&self.handle, &(v,)).await.map(|n| n as usize)
        }

        /// `v in l`.
        async fn contains(&self, v: &T) -> bool {
            let v = item(&self.handle, v, "a list element")?;
            call::<l::Contains, _>(&self.handle, &(v,)).await
        }

        /// `l.reverse()`.
        async fn reverse(&self) -> () {
            call::<l::Reverse, _>(&self.handle, &()).await
        }

        /// `l *= n`.
        async fn repeat(&self, n: u64) -> () {
            call::<l::Repeat, _>(&self.handle, &(n,)).await
        }

        /// `l.clear()`.
        async fn clear(&self) -> () {
            call::<l::Clear, _>(&self.handle, &()).await
        }

        /// `len(l)`.
        async fn len(&self) -> usize {
            call::<l::Len, u64>(&self.handle, &()).await.map(|n| n as usize)
        }

        /// `len(l) == 0`.
        async fn is_empty(&self) -> bool {
            call::<l::Len, u64>(&self.handle, &()).await.map(|n| n == 0)
        }

        /// A copy of the elements (`l[:]`, `l.copy()`).
        async fn snapshot(&self) -> Vec<T> {
            let got: Vec<Item> = call::<l::Snapshot, _>(&self.handle, &()).await?;
            values(&self.handle, &got, "a list element")
        }

        /// `l.copy()`.
        async fn copy(&self) -> Vec<T> {
            self.snapshot().await
        }

        /// `l.sort()`: sorted by `T`'s order and stored on the server. The server cannot
        /// compare your types, so the client sorts a snapshot and stores the result only
        /// if the list did not change meanwhile (retrying if it did): the sort is atomic.
        async fn sort(&self) -> () where [T: Ord] {
            self.sort_by(|a: &T, b: &T| a.cmp(b)).await
        }

        /// `l.sort(key=...)`, atomic as [`sort`](Self::sort).
        async fn sort_by_key[Key: Ord, F: Fn(&T) -> Key](&self, key: F) -> () {
            self.sort_by(|a: &T, b: &T| key(a).cmp(&key(b))).await
        }

        /// Sorts with a comparison, atomic as [`sort`](Self::sort).
        async fn sort_by[F: Fn(&T, &T) -> std::cmp::Ordering](&self, compare: F) -> () {
            loop {
                let (version, raw): (u64, Vec<Item>) = call::<l::Versioned, _>(&self.handle, &()).await?;
                let mut all: Vec<T> = values(&self.handle, &raw, "a list element")?;
                all.sort_by(&compare);
                let sorted = items(&self.handle, &all, "a list element")?;
                if call::<l::ReplaceIf, bool>(&self.handle, &(version, sorted)).await? {
                    return Ok(());
                }
            }
        }
    }
}

impl<T: Data> ListProxy<T> {
    /// `for x in l`: the elements as a stream, read live — each by its index when the
    /// server sends it (in batches, as the stream's window allows), so elements set
    /// meanwhile are seen, as Python's list iterator sees them, and the iteration ends
    /// wherever the list ends by then. The first items come in one round trip;
    /// [`snapshot`](Self::snapshot) stays for a one-shot copy.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
    /// let l = client.list_from(&[1u32, 2, 3]).await?;
    /// let mut it = l.iter();
    /// let mut sum = 0;
    /// while let Some(x) = it.next().await {
    ///     sum += x?;
    /// }
    /// assert_eq!(sum, 6);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> Elements<T> {
        elements::open::<l::Iter, T>(&self.handle, &(), elements::element)
    }
}

impl<T: Data> BlockingListProxy<T> {
    /// `for x in l`, live, as an iterator (see [`ListProxy::iter`]).
    pub fn iter(&self) -> BlockingStream<Elements<T>> {
        BlockingStream::new(self.inner.iter(), self.exec.clone())
    }
}

constructors! {
    /// A new, empty shared `list`.
    fn list[T: Data](&self) -> ListProxy<T> | BlockingListProxy<T> {
        self.list_from(&[]).await
    }

    /// A new shared `list` holding `items`.
    fn list_from[T: Data](&self, items: &[T]) -> ListProxy<T> | BlockingListProxy<T> {
        let raw = self.encode_all(items, "a list element")?;
        self.create_builtin::<_, l::New>(&(raw,)).await
    }
}
