//! `watch()` on the built-ins: a stream of [`Watch`] events — the object's state and
//! version, then every change the server applies, in order, one version each; a watcher
//! that falls behind gets `Lagged` and a fresh snapshot (see
//! [`manager_proto::watch`]). Elements inside events are decoded as the proxy's types,
//! proxies in them owning their references as a call's results do.

use manager_proto::builtin::{dict as d, event as e, list as l, namespace as n, queue as q, set as s, value as v};
use manager_proto::element::{ItemRef, decode_item_ref};
pub use manager_proto::watch::{
    Called, DictChange, EventChange, ListChange, NamespaceChange, QueueChange, SetChange, SharedWatch, ValueChange,
    Watch,
};
use manager_proto::{BlockingStream, Error, Handle, Proxy};
use serde::de::{Deserialize, DeserializeOwned};

use super::Data;
use super::dict::{BlockingDictProxy, DictProxy};
use super::elements::{self, Elements};
use super::event::{BlockingEventProxy, EventProxy};
use super::list::{BlockingListProxy, ListProxy};
use super::queue::{BlockingJoinableQueueProxy, BlockingQueueProxy, JoinableQueueProxy, QueueProxy};
use super::scalar::{BlockingNamespaceProxy, BlockingValueProxy, NamespaceProxy, ValueProxy};
use super::set::{BlockingSetProxy, SetProxy};

/// A `dict`'s watch events: its pairs in insertion order, then its changes.
pub type DictWatch<K, V> = Watch<Vec<(K, V)>, DictChange<K, V>>;
/// A `list`'s watch events: its elements, then splices.
pub type ListWatch<T> = Watch<Vec<T>, ListChange<T>>;
/// A `set`'s watch events: its elements in insertion order, then its changes.
pub type SetWatch<T> = Watch<Vec<T>, SetChange<T>>;
/// A `Value`'s watch events.
pub type ValueWatch<T> = Watch<T, ValueChange<T>>;
/// A `Namespace`'s watch events: its attributes (sorted by name), then its changes.
pub type NamespaceWatch<T> = Watch<Vec<(String, T)>, NamespaceChange<T>>;
/// An `Event`'s watch events: whether it is set, then sets and clears.
pub type EventWatch = Watch<bool, EventChange>;
/// A `Queue`'s watch events: its length, then its length after each change to it.
pub type QueueWatch = Watch<u64, QueueChange>;

const WHAT: &str = "a watched element";

fn el<T: DeserializeOwned>(item: &ItemRef<'_>, handle: &Handle) -> Result<T, Error> {
    decode_item_ref(item, handle.transport(), WHAT)
}

fn els<T: DeserializeOwned>(items: &[ItemRef<'_>], handle: &Handle) -> Result<Vec<T>, Error> {
    items.iter().map(|i| el(i, handle)).collect()
}

/// Decodes one event in its wire form (`W`), then converts it with `convert`.
fn event<'a, W: Deserialize<'a>, T>(
    bytes: &'a [u8],
    convert: impl FnOnce(W) -> Result<T, Error>,
) -> Result<(T, usize), Error> {
    let (wire, rest) = manager_proto::postcard::take_from_bytes::<W>(bytes)
        .map_err(|e| Error::Decode { what: "a watch event".to_owned(), reason: e.to_string() })?;
    let used = bytes.len() - rest.len();
    Ok((convert(wire)?, used))
}

fn dict_event<K: DeserializeOwned, V: DeserializeOwned>(
    b: &[u8],
    h: &Handle,
) -> Result<(DictWatch<K, V>, usize), Error> {
    event(b, |w: Watch<Vec<(ItemRef<'_>, ItemRef<'_>)>, DictChange<ItemRef<'_>, ItemRef<'_>>>| {
        w.try_map(
            |pairs| pairs.iter().map(|(k, v)| Ok((el(k, h)?, el(v, h)?))).collect(),
            |c| {
                Ok(match c {
                    DictChange::Inserted { key, value } => {
                        DictChange::Inserted { key: el(&key, h)?, value: el(&value, h)? }
                    }
                    DictChange::Updated { key, value } => {
                        DictChange::Updated { key: el(&key, h)?, value: el(&value, h)? }
                    }
                    DictChange::Removed { key } => DictChange::Removed { key: el(&key, h)? },
                    DictChange::Cleared => DictChange::Cleared,
                })
            },
        )
    })
}

fn list_event<T: DeserializeOwned>(b: &[u8], h: &Handle) -> Result<(ListWatch<T>, usize), Error> {
    event(b, |w: Watch<Vec<ItemRef<'_>>, ListChange<ItemRef<'_>>>| {
        w.try_map(
            |items| els(&items, h),
            |c| Ok(ListChange { index: c.index, removed: c.removed, inserted: els(&c.inserted, h)? }),
        )
    })
}

fn set_event<T: DeserializeOwned>(b: &[u8], h: &Handle) -> Result<(SetWatch<T>, usize), Error> {
    event(b, |w: Watch<Vec<ItemRef<'_>>, SetChange<ItemRef<'_>>>| {
        w.try_map(
            |items| els(&items, h),
            |c| {
                Ok(match c {
                    SetChange::Added(x) => SetChange::Added(el(&x, h)?),
                    SetChange::Removed(x) => SetChange::Removed(el(&x, h)?),
                    SetChange::Cleared => SetChange::Cleared,
                })
            },
        )
    })
}

fn value_event<T: DeserializeOwned>(b: &[u8], h: &Handle) -> Result<(ValueWatch<T>, usize), Error> {
    event(b, |w: Watch<ItemRef<'_>, ValueChange<ItemRef<'_>>>| {
        w.try_map(|x| el(&x, h), |ValueChange::Set(x)| Ok(ValueChange::Set(el(&x, h)?)))
    })
}

fn namespace_event<T: DeserializeOwned>(b: &[u8], h: &Handle) -> Result<(NamespaceWatch<T>, usize), Error> {
    event(b, |w: Watch<Vec<(String, ItemRef<'_>)>, NamespaceChange<ItemRef<'_>>>| {
        w.try_map(
            |attrs| attrs.into_iter().map(|(name, x)| Ok((name, el(&x, h)?))).collect(),
            |c| {
                Ok(match c {
                    NamespaceChange::Set { name, value } => NamespaceChange::Set { name, value: el(&value, h)? },
                    NamespaceChange::Removed { name } => NamespaceChange::Removed { name },
                })
            },
        )
    })
}

impl<T: Data> ListProxy<T> {
    /// Watches the list: a snapshot of its elements with its version, then every change
    /// as a splice ([`ListChange`]), in the order the server applied them, each with the
    /// next version. A snapshot and the changes after it always add up to the list as
    /// it is; a watcher that stops reading never slows a writer — it gets
    /// `Lagged { missed }` and a fresh snapshot when it reads again. Dropping the
    /// stream ends the subscription.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
    /// use manager_client::watch::{ListChange, Watch};
    /// let l = client.list_from(&[1u32]).await?;
    /// let mut events = l.watch();
    /// let Some(Ok(Watch::Snapshot { version, state })) = events.next().await else { panic!() };
    /// assert_eq!(state, [1]);
    /// l.append(2).await?;
    /// let change = ListChange { index: 1, removed: 0, inserted: vec![2] };
    /// assert_eq!(events.next().await.transpose()?, Some(Watch::Change { version: version + 1, change }));
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn watch(&self) -> Elements<ListWatch<T>> {
        elements::open::<l::Watch, _>(self.handle(), &(), list_event::<T>)
    }
}

impl<K: Data, V: Data> DictProxy<K, V> {
    /// Watches the dict: its pairs and version, then every insert, update, removal and
    /// clear ([`DictChange`]), as [`ListProxy::watch`] describes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
    /// use manager_client::watch::{DictChange, Watch};
    /// let d = client.dict::<String, u32>().await?;
    /// let mut events = d.watch();
    /// assert!(matches!(events.next().await, Some(Ok(Watch::Snapshot { .. }))));
    /// d.insert("a".into(), 1).await?;
    /// let Some(Ok(Watch::Change { change, .. })) = events.next().await else { panic!() };
    /// assert_eq!(change, DictChange::Inserted { key: "a".into(), value: 1 });
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn watch(&self) -> Elements<DictWatch<K, V>> {
        elements::open::<d::Watch, _>(self.handle(), &(), dict_event::<K, V>)
    }
}

impl<T: Data> SetProxy<T> {
    /// Watches the set: its elements and version, then every element added or removed
    /// and every clear ([`SetChange`]), as [`ListProxy::watch`] describes.
    pub fn watch(&self) -> Elements<SetWatch<T>> {
        elements::open::<s::Watch, _>(self.handle(), &(), set_event::<T>)
    }
}

impl<T: Data> ValueProxy<T> {
    /// Watches the value: it and its version, then each new value ([`ValueChange`]),
    /// as [`ListProxy::watch`] describes.
    pub fn watch(&self) -> Elements<ValueWatch<T>> {
        elements::open::<v::Watch, _>(self.handle(), &(), value_event::<T>)
    }
}

impl NamespaceProxy {
    /// Watches the namespace, decoding every attribute as `T` (its attributes are
    /// typed per call: watch a namespace whose attributes share a type, or one enum):
    /// its attributes and version, then each set or deleted attribute
    /// ([`NamespaceChange`]), as [`ListProxy::watch`] describes.
    pub fn watch<T: DeserializeOwned>(&self) -> Elements<NamespaceWatch<T>> {
        elements::open::<n::Watch, _>(self.handle(), &(), namespace_event::<T>)
    }
}

impl EventProxy {
    /// Watches the event: whether it is set and its version, then each `set()` and
    /// `clear()` ([`EventChange`]), as [`ListProxy::watch`] describes.
    pub fn watch(&self) -> Elements<EventWatch> {
        elements::open::<e::Watch, _>(self.handle(), &(), elements::plain::<EventWatch>)
    }
}

macro_rules! queue_watch {
    ($proxy:ident, $blocking:ident) => {
        impl<T: Data> $proxy<T> {
            /// Watches the queue's length: its length and version, then its length
            /// after each change to it ([`QueueChange`]), as [`ListProxy::watch`]
            /// describes.
            pub fn watch(&self) -> Elements<QueueWatch> {
                elements::open::<q::Watch, _>(self.handle(), &(), elements::plain::<QueueWatch>)
            }
        }

        impl<T: Data> $blocking<T> {
            /// [`watch`]($proxy::watch) as an iterator.
            pub fn watch(&self) -> BlockingStream<Elements<QueueWatch>> {
                BlockingStream::new(self.as_async().watch(), self.executor().clone())
            }
        }
    };
}
queue_watch!(QueueProxy, BlockingQueueProxy);
queue_watch!(JoinableQueueProxy, BlockingJoinableQueueProxy);

macro_rules! blocking_watch {
    ($([$($param:tt)*] $blocking:ty => $item:ty;)*) => {$(
        impl<$($param)*> $blocking {
            /// `watch()` as an iterator (see the async proxy's `watch`).
            pub fn watch(&self) -> BlockingStream<Elements<$item>> {
                BlockingStream::new(self.as_async().watch(), self.executor().clone())
            }
        }
    )*};
}
blocking_watch! {
    [T: Data] BlockingListProxy<T> => ListWatch<T>;
    [K: Data, V: Data] BlockingDictProxy<K, V> => DictWatch<K, V>;
    [T: Data] BlockingSetProxy<T> => SetWatch<T>;
    [T: Data] BlockingValueProxy<T> => ValueWatch<T>;
    [] BlockingEventProxy => EventWatch;
}

impl BlockingNamespaceProxy {
    /// [`NamespaceProxy::watch`] as an iterator.
    pub fn watch<T: DeserializeOwned>(&self) -> BlockingStream<Elements<NamespaceWatch<T>>> {
        BlockingStream::new(self.as_async().watch(), self.executor().clone())
    }
}
