//! `Namespace`, `Value` and `Array` proxies.

use manager_proto::Item;
use manager_proto::builtin::{NumKind, Number};
use manager_proto::builtin::{array as a, namespace as n, value as v};
use manager_proto::contract::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    Data, One, call, call_element, call_with_item, constructors, item, items, proxy_methods, proxy_types, value, values,
};

proxy_types!(
    /// A shared `Namespace`: named attributes of any type. A missing attribute is a
    /// `KeyNotFound` error that names it. Create with `client.namespace()`.
    ///
    /// Names starting with `_` are refused (`set` fails with `InvalidValue` saying
    /// why): Python keeps such attributes on the proxy, local to one process, and a
    /// proxy here has no local attributes — sharing them instead would silently change
    /// what a program ported from Python does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use manager_client::RemoteErrorKind;
    /// let ns = client.namespace().await?; // ns = manager.Namespace()
    /// ns.set("name", "worker-1").await?; // ns.name = "worker-1"
    /// ns.set("retries", 3u32).await?; // ns.retries = 3
    /// assert_eq!(ns.get::<String>("name").await?, "worker-1"); // ns.name
    /// assert_eq!(ns.get::<u32>("retries").await?, 3);
    /// assert_eq!(ns.names().await?, ["name", "retries"]);
    /// let err = ns.get::<u32>("timeout").await.unwrap_err(); // ns.timeout: AttributeError
    /// assert_eq!(err.remote_kind(), Some(RemoteErrorKind::KeyNotFound));
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::NamespaceProxy`](crate::blocking::NamespaceProxy),
    /// the same methods without `.await`.
    NamespaceProxy, BlockingNamespaceProxy, [], manager_proto::builtin::NAMESPACE
);

proxy_methods! {
    impl[] NamespaceProxy<>, BlockingNamespaceProxy {
        /// `ns.name`, decoded as `T`.
        async fn get[T: DeserializeOwned](&self, name: &str) -> T {
            call_element::<n::Get, _, One>(&self.handle, &(name,), &format!("attribute `{name}`")).await
        }

        /// `ns.name = v`; a name starting with `_` is refused (`InvalidValue`).
        async fn set[T: Serialize](&self, name: &str, v: T) -> () {
            let v = item(&self.handle, &v, &format!("attribute `{name}`"))?;
            call_with_item::<n::Set, _, _, _>(&self.handle, &(name,), v, &()).await
        }

        /// `del ns.name`; `KeyNotFound` if it has no such attribute.
        async fn delete(&self, name: &str) -> () {
            call::<n::Delete, _>(&self.handle, &(name,)).await
        }

        /// `hasattr(ns, name)`.
        async fn contains(&self, name: &str) -> bool {
            call::<n::Contains, _>(&self.handle, &(name,)).await
        }

        /// The attribute names, sorted.
        async fn names(&self) -> Vec<String> {
            call::<n::Names, _>(&self.handle, &()).await
        }
    }
}

proxy_types!(
    /// A shared `Value`: one value of type `T`, with atomic read-modify-write in one
    /// request each (`swap`, `compare_exchange`, and `fetch_add` / `fetch_sub` for
    /// numbers) where Python needs a lock round trip. Create with `client.value(v)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// let hits = client.value(0u64).await?; // hits = manager.Value("Q", 0)
    /// hits.set(10).await?; // hits.value = 10
    /// // `with lock: hits.value += 5` in Python; here one atomic request.
    /// assert_eq!(hits.fetch_add(5).await?, 10);
    /// assert_eq!(hits.get().await?, 15); // hits.value
    /// assert_eq!(hits.swap(0).await?, 15);
    /// assert_eq!(hits.compare_exchange(&0, 1).await?, Ok(0)); // it was 0: now 1
    /// assert_eq!(hits.compare_exchange(&0, 2).await?, Err(1)); // it was 1: unchanged
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::ValueProxy`](crate::blocking::ValueProxy),
    /// the same methods without `.await`.
    ValueProxy, BlockingValueProxy, [T], manager_proto::builtin::VALUE
);

proxy_methods! {
    impl[T: Data] ValueProxy<T>, BlockingValueProxy {
        /// `v.value`.
        async fn get(&self) -> T {
            call_element::<v::Get, _, One>(&self.handle, &(), "the value").await
        }

        /// `v.value = new`.
        async fn set(&self, new: T) -> () {
            let new = item(&self.handle, &new, "the value")?;
            call_with_item::<v::Set, _, _, _>(&self.handle, &(), new, &()).await
        }

        /// Stores `new`, returning the old value, atomically.
        async fn swap(&self, new: T) -> T {
            let new = item(&self.handle, &new, "the value")?;
            call_element::<v::Swap, _, One>(&self.handle, &(new,), "the value").await
        }

        /// Stores `new` if the value is `current` (compared by encoding): `Ok(previous)`,
        /// or `Err(actual)` when it was something else. Atomic.
        async fn compare_exchange(&self, current: &T, new: T) -> Result<T, T> {
            let args = (item(&self.handle, current, "the value")?, item(&self.handle, &new, "the value")?);
            let got: Result<Item, Item> = call::<v::CompareExchange, _>(&self.handle, &args).await?;
            Ok(match got {
                Ok(prev) => Ok(value(&self.handle, &prev, "the value")?),
                Err(actual) => Err(value(&self.handle, &actual, "the value")?),
            })
        }

        /// Adds `delta`, returning the previous value, atomically. Integer overflow is an
        /// `Overflow` error (nothing changes).
        async fn fetch_add(&self, delta: T) -> T where [T: Number] {
            self.arith::<v::FetchAdd>(delta).await
        }

        /// Subtracts `delta`, returning the previous value, atomically.
        async fn fetch_sub(&self, delta: T) -> T where [T: Number] {
            self.arith::<v::FetchSub>(delta).await
        }
    }
}

impl<T: Data + Number> ValueProxy<T> {
    async fn arith<M: Method<Args = (NumKind, Vec<u8>), Reply = Item>>(
        &self,
        delta: T,
    ) -> Result<T, manager_proto::Error> {
        let delta = manager_proto::proxy::encode(&delta, "the delta")?;
        let old: Item = call::<M, _>(&self.handle, &(T::KIND, delta)).await?;
        value(&self.handle, &old, "the value")
    }
}

proxy_types!(
    /// A shared `Array`: a fixed-length sequence of `T`. Out-of-range indexes and
    /// length-changing slice assignments are errors. Create with `client.array(items)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// let a = client.array(&[0i32; 4]).await?; // a = manager.Array("i", [0] * 4)
    /// a.set(1, 7).await?; // a[1] = 7
    /// a.set_slice(Some(2), None, None, vec![8, 9]).await?; // a[2:] = [8, 9]
    /// assert_eq!(a.get(-1).await?, 9); // a[-1]
    /// assert_eq!(a.slice(None, None, Some(2)).await?, [0, 8]); // a[::2]
    /// assert_eq!(a.snapshot().await?, [0, 7, 8, 9]); // a[:]
    /// // The length is fixed: a[4] = 0 fails (IndexError), as does a[3:] = [1, 2].
    /// assert!(a.set(4, 0).await.is_err());
    /// assert!(a.set_slice(Some(3), None, None, vec![1, 2]).await.is_err());
    /// assert_eq!(a.len().await?, 4);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::ArrayProxy`](crate::blocking::ArrayProxy),
    /// the same methods without `.await`.
    ArrayProxy, BlockingArrayProxy, [T], manager_proto::builtin::ARRAY
);

proxy_methods! {
    impl[T: Data] ArrayProxy<T>, BlockingArrayProxy {
        /// `len(a)`.
        async fn len(&self) -> usize {
            call::<a::Len, u64>(&self.handle, &()).await.map(|n| n as usize)
        }

        /// `len(a) == 0`.
        async fn is_empty(&self) -> bool {
            call::<a::Len, u64>(&self.handle, &()).await.map(|n| n == 0)
        }

        /// `a[i]`.
        async fn get(&self, i: i64) -> T {
            let got: Item = call::<a::Get, _>(&self.handle, &(i,)).await?;
            value(&self.handle, &got, "an array element")
        }

        /// `a[i] = v`.
        async fn set(&self, i: i64, v: T) -> () {
            let v = item(&self.handle, &v, "an array element")?;
            call::<a::Set, _>(&self.handle, &(i, v)).await
        }

        /// `a[start:stop:step]`.
        async fn slice(&self, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Vec<T> {
            let got: Vec<Item> = call::<a::Slice, _>(&self.handle, &(start, stop, step)).await?;
            values(&self.handle, &got, "an array element")
        }

        /// `a[start:stop:step] = new`; `new` must have the slice's length.
        async fn set_slice(&self, start: Option<i64>, stop: Option<i64>, step: Option<i64>, new: Vec<T>) -> () {
            let new = items(&self.handle, &new, "an array element")?;
            call::<a::SetSlice, _>(&self.handle, &(start, stop, step, new)).await
        }

        /// A copy of the elements (`a[:]`).
        async fn snapshot(&self) -> Vec<T> {
            let got: Vec<Item> = call::<a::Snapshot, _>(&self.handle, &()).await?;
            values(&self.handle, &got, "an array element")
        }
    }
}

constructors! {
    /// A new, empty shared `Namespace`.
    fn namespace[](&self) -> NamespaceProxy | BlockingNamespaceProxy {
        self.create_builtin::<_, n::New>(&(Vec::<(String, Item)>::new(),)).await
    }

    /// A new shared `Value` holding `value`.
    fn value[T: Data](&self, value: T) -> ValueProxy<T> | BlockingValueProxy<T> {
        let raw = manager_proto::element::encode_item(&value, self.server_id(), "the value")?;
        self.create_builtin::<_, v::New>(&(raw,)).await
    }

    /// A new shared `Array` holding `items` (its length is fixed from now on).
    fn array[T: Data](&self, items: &[T]) -> ArrayProxy<T> | BlockingArrayProxy<T> {
        let raw = self.encode_all(items, "an array element")?;
        self.create_builtin::<_, a::New>(&(raw,)).await
    }
}
