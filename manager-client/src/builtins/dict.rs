//! `dict` proxies.

use manager_proto::builtin::dict as d;
use manager_proto::{BlockingStream, Error, Item};
use serde::Serialize;
use std::borrow::Borrow;
use std::fmt::Debug;

use super::elements::{self, Elements};
use super::{
    Data, Maybe, One, SMALL_ITEM, call, call_element, constructors, item, proxy_methods, proxy_types, small_item,
    value, with_key,
};

proxy_types!(
    /// A shared `dict`: insertion-ordered like Python's; keys are compared by their
    /// encoding. Create with `client.dict()`; values may themselves be proxies.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// let d = client.dict::<String, u32>().await?; // d = manager.dict()
    /// assert_eq!(d.insert("apples".into(), 3).await?, None); // d["apples"] = 3
    /// assert_eq!(d.insert("apples".into(), 5).await?, Some(3)); // replaces it
    /// assert_eq!(d.get("apples").await?, Some(5)); // d.get("apples")
    /// assert_eq!(d.get("pears").await?, None);
    /// assert_eq!(d.setdefault("pears".into(), 0).await?, 0); // d.setdefault("pears", 0)
    /// assert_eq!(d.len().await?, 2); // len(d)
    /// assert_eq!(d.keys().collect_all().await?, ["apples", "pears"]); // insertion order
    /// assert_eq!(d.snapshot().await?, [("apples".into(), 5), ("pears".into(), 0)]); // d.copy()
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime, [`blocking::DictProxy`](crate::blocking::DictProxy)
    /// has the same methods, without `.await`:
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # // A server in this process, on a runtime of its own (usually another process).
    /// # let rt = tokio::runtime::Runtime::new()?;
    /// # let server = rt.block_on(manager_server::Server::builder().start())?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// let client = manager_client::blocking::Client::connect(&address, key.as_bytes())?;
    /// let d = client.dict::<String, u32>()?;
    /// d.insert("apples".into(), 3)?;
    /// assert_eq!(d.get("apples")?, Some(3));
    /// # drop((d, client));
    /// # rt.block_on(server.shutdown());
    /// # Ok(()) }
    /// ```
    DictProxy, BlockingDictProxy, [K, V], manager_proto::builtin::DICT
);

type Pairs = Vec<(Item, Item)>;

impl<K: Data, V: Data> DictProxy<K, V> {
    fn pairs(&self, raw: Pairs) -> Result<Vec<(K, V)>, Error> {
        raw.iter()
            .map(|(k, v)| Ok((value(&self.handle, k, "a dict key")?, value(&self.handle, v, "a dict value")?)))
            .collect()
    }

    fn encode_pairs(&self, pairs: &[(K, V)]) -> Result<Pairs, Error> {
        pairs
            .iter()
            .map(|(k, v)| Ok((item(&self.handle, k, "a dict key")?, item(&self.handle, v, "a dict value")?)))
            .collect()
    }
}

proxy_methods! {
    impl[K: Data, V: Data] DictProxy<K, V>, BlockingDictProxy {
        /// `d.get(key)`: the value, or `None`.
        async fn get[Q: Serialize + ?Sized](&self, key: &Q) -> Option<V> where [K: Borrow<Q>] {
            let mut stack = [0; SMALL_ITEM];
            let key = small_item(&self.handle, key, "a dict key", &mut stack)?;
            call_element::<d::Get, _, Maybe>(&self.handle, &(key,), "a dict value").await
        }

        /// `d[key] = value`; returns the value it replaced, if any.
        async fn insert(&self, key: K, val: V) -> Option<V> {
            let (mut key_stack, mut value_stack) = ([0; SMALL_ITEM], [0; SMALL_ITEM]);
            let pair = (
                small_item(&self.handle, &key, "a dict key", &mut key_stack)?,
                small_item(&self.handle, &val, "a dict value", &mut value_stack)?,
            );
            call_element::<d::Insert, _, Maybe>(&self.handle, &pair, "a dict value").await
        }

        /// `del d[key]`, returning the value; a `KeyNotFound` error showing the key
        /// (its `Debug` form) if it is missing.
        async fn remove[Q: Serialize + Debug + ?Sized](&self, key: &Q) -> V where [K: Borrow<Q>] {
            let mut stack = [0; SMALL_ITEM];
            let encoded = small_item(&self.handle, key, "a dict key", &mut stack)?;
            with_key(call_element::<d::Remove, _, One>(&self.handle, &(encoded,), "a dict value").await, &key, "dict")
        }

        /// `key in d`.
        async fn contains[Q: Serialize + ?Sized](&self, key: &Q) -> bool where [K: Borrow<Q>] {
            let mut stack = [0; SMALL_ITEM];
            let key = small_item(&self.handle, key, "a dict key", &mut stack)?;
            call::<d::Contains, _>(&self.handle, &(key,)).await
        }

        /// `len(d)`.
        async fn len(&self) -> usize {
            call::<d::Len, u64>(&self.handle, &()).await.map(|n| n as usize)
        }

        /// `len(d) == 0`.
        async fn is_empty(&self) -> bool {
            call::<d::Len, u64>(&self.handle, &()).await.map(|n| n == 0)
        }

        /// A one-shot copy of the pairs, in order (what `dict(d)` makes in Python). The
        /// live views are [`iter`](Self::iter), [`keys`](Self::keys),
        /// [`values`](Self::values) and [`items`](Self::items).
        async fn snapshot(&self) -> Vec<(K, V)> {
            let raw: Pairs = call::<d::Snapshot, _>(&self.handle, &()).await?;
            self.pairs(raw)
        }

        /// `d.copy()`: a snapshot of the pairs, as [`snapshot`](Self::snapshot).
        async fn copy(&self) -> Vec<(K, V)> {
            self.snapshot().await
        }

        /// `d.pop(key)`: removes and returns the value; `KeyNotFound` showing the key
        /// (its `Debug` form) if missing.
        async fn pop[Q: Serialize + Debug + ?Sized](&self, key: &Q) -> V where [K: Borrow<Q>] {
            let mut stack = [0; SMALL_ITEM];
            let encoded = small_item(&self.handle, key, "a dict key", &mut stack)?;
            let old: Item = with_key(call::<d::Pop, _>(&self.handle, &(encoded,)).await, &key, "dict")?;
            value(&self.handle, &old, "a dict value")
        }

        /// `d.pop(key, default)`.
        async fn pop_or[Q: Serialize + ?Sized](&self, key: &Q, default: V) -> V where [K: Borrow<Q>] {
            let (mut key_stack, mut value_stack) = ([0; SMALL_ITEM], [0; SMALL_ITEM]);
            let args = (
                small_item(&self.handle, key, "a dict key", &mut key_stack)?,
                small_item(&self.handle, &default, "a dict value", &mut value_stack)?,
            );
            let got: Item = call::<d::PopOr, _>(&self.handle, &args).await?;
            value(&self.handle, &got, "a dict value")
        }

        /// `d.popitem()`: removes and returns the last inserted pair; `KeyNotFound` if
        /// the dict is empty.
        async fn popitem(&self) -> (K, V) {
            let (k, v): (Item, Item) = call::<d::PopItem, _>(&self.handle, &()).await?;
            Ok((value(&self.handle, &k, "a dict key")?, value(&self.handle, &v, "a dict value")?))
        }

        /// `d.setdefault(key, default)`: the value, inserting `default` first if missing.
        async fn setdefault(&self, key: K, default: V) -> V {
            let (mut key_stack, mut value_stack) = ([0; SMALL_ITEM], [0; SMALL_ITEM]);
            let args = (
                small_item(&self.handle, &key, "a dict key", &mut key_stack)?,
                small_item(&self.handle, &default, "a dict value", &mut value_stack)?,
            );
            let got: Item = call::<d::SetDefault, _>(&self.handle, &args).await?;
            value(&self.handle, &got, "a dict value")
        }

        /// `d.update(pairs)` (also `d |= pairs`), in one request.
        async fn update(&self, pairs: Vec<(K, V)>) -> () {
            let raw = self.encode_pairs(&pairs)?;
            call::<d::Update, _>(&self.handle, &(raw,)).await
        }

        /// `d.clear()`.
        async fn clear(&self) -> () {
            call::<d::Clear, _>(&self.handle, &()).await
        }

        /// `d | other`: the pairs of the merged mapping; `d` is unchanged.
        async fn merged(&self, other: Vec<(K, V)>) -> Vec<(K, V)> {
            let raw = self.encode_pairs(&other)?;
            let out: Pairs = call::<d::Merged, _>(&self.handle, &(raw,)).await?;
            self.pairs(out)
        }
    }
}

/// The live views: streams read a batch at a time, with Python's rules for a dict that
/// changes meanwhile.
impl<K: Data, V: Data> DictProxy<K, V> {
    /// `for k in d`: the keys, in insertion order, as a live stream — the server reads
    /// the dict a batch at a time (as the stream's window allows), taking its lock once
    /// per batch and holding nothing between batches. As in Python, a dict that changes
    /// size meanwhile ends the stream with a
    /// [`ChangedDuringIteration`](manager_proto::RemoteErrorKind::ChangedDuringIteration)
    /// error ("dictionary changed size during iteration"), after the keys already
    /// sent; one whose keys changed with the size the same, with "dictionary keys
    /// changed during iteration". Replacing a value is no change. The server notices a
    /// change when it reads the next batch, so a small dict, sent whole at once, is not
    /// affected by later changes. [`snapshot`](Self::snapshot) makes a one-shot copy
    /// (and is what a `#[shared]` method holding the proxy on the server uses: a
    /// handle there calls in place and opens no streams).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
    /// let d = client.dict_from(&[("a".to_owned(), 1u32), ("b".to_owned(), 2)]).await?;
    /// let mut keys = d.iter();
    /// while let Some(key) = keys.next().await {
    ///     println!("{}", key?);
    /// }
    /// assert_eq!(d.values().collect_all().await?, [1, 2]);
    /// assert_eq!(d.items().collect_all().await?, [("a".to_owned(), 1), ("b".to_owned(), 2)]);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> Elements<K> {
        self.keys()
    }

    /// `d.keys()`: the keys as a live stream (the same as [`iter`](Self::iter)).
    pub fn keys(&self) -> Elements<K> {
        elements::open::<d::Keys, K>(&self.handle, &(), elements::element)
    }

    /// `d.values()`: the values, in key order, as a live stream (see
    /// [`iter`](Self::iter)); a value replaced before its key is reached is sent as it
    /// is then.
    pub fn values(&self) -> Elements<V> {
        elements::open::<d::Values, V>(&self.handle, &(), elements::element)
    }

    /// `d.items()`: the pairs, in order, as a live stream (see [`iter`](Self::iter)).
    pub fn items(&self) -> Elements<(K, V)> {
        elements::open::<d::Items, (K, V)>(&self.handle, &(), elements::pair)
    }
}

impl<K: Data, V: Data> BlockingDictProxy<K, V> {
    /// `for k in d`, live, as an iterator (see [`DictProxy::iter`]).
    pub fn iter(&self) -> BlockingStream<Elements<K>> {
        BlockingStream::new(self.inner.iter(), self.exec.clone())
    }

    /// `d.keys()`, live, as an iterator (see [`DictProxy::iter`]).
    pub fn keys(&self) -> BlockingStream<Elements<K>> {
        BlockingStream::new(self.inner.keys(), self.exec.clone())
    }

    /// `d.values()`, live, as an iterator (see [`DictProxy::values`]).
    pub fn values(&self) -> BlockingStream<Elements<V>> {
        BlockingStream::new(self.inner.values(), self.exec.clone())
    }

    /// `d.items()`, live, as an iterator (see [`DictProxy::iter`]).
    pub fn items(&self) -> BlockingStream<Elements<(K, V)>> {
        BlockingStream::new(self.inner.items(), self.exec.clone())
    }
}

/// Encodes initial pairs for `dict(...)`.
pub(crate) fn initial<K: Data, V: Data>(server: manager_proto::ServerId, pairs: &[(K, V)]) -> Result<Pairs, Error> {
    use manager_proto::element::encode_item;
    pairs
        .iter()
        .map(|(k, v)| Ok((encode_item(k, server, "a dict key")?, encode_item(v, server, "a dict value")?)))
        .collect()
}

constructors! {
    /// A new, empty shared `dict` (Python's `manager.dict()`).
    fn dict[K: Data, V: Data](&self) -> DictProxy<K, V> | BlockingDictProxy<K, V> {
        self.dict_from(&[]).await
    }

    /// A new shared `dict` holding `pairs`.
    fn dict_from[K: Data, V: Data](&self, pairs: &[(K, V)]) -> DictProxy<K, V> | BlockingDictProxy<K, V> {
        let raw = initial(self.server_id(), pairs)?;
        self.create_builtin::<_, d::New>(&(raw,)).await
    }

    /// `dict.fromkeys(keys, value)`: a new shared `dict` mapping each key to `value`.
    fn dict_fromkeys[K: Data, V: Data + Clone](&self, keys: Vec<K>, value: V) -> DictProxy<K, V> | BlockingDictProxy<K, V> {
        let pairs: Vec<(K, V)> = keys.into_iter().map(|k| (k, value.clone())).collect();
        self.dict_from(&pairs).await
    }
}
