//! The `SharedMemory` proxy: the block's server object (created, passed to other
//! processes, attached like any proxy) and the calls that map it.

use manager_proto::Proxy;
use manager_proto::builtin::shared_memory as s;
use manager_proto::shm::{BlockDescriptor, SHARED_MEMORY};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ShmError;
use super::list::ShareableList;
use super::memory::SharedMemory;
use super::open;
use crate::builtins::{call, constructors, proxy_methods, proxy_types};

proxy_types!(
    /// A shared memory block held by the server: create with `client.shared_memory(size)`,
    /// then [`map`](Self::map) it in each process that uses it (same host as the
    /// server). The proxy is the block's reference: hand it to a child
    /// (`.proxy("blk", &block)`, `inherited`), name it, attach its token, like any
    /// proxy. When every reference is gone — every holder dropped it, or every process
    /// holding it was killed — the server closes the block's memfd, and the memory goes
    /// with the last mapping. Nothing is ever named in `/dev/shm`, so nothing is left
    /// behind whatever dies.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
    /// use manager_client::SharedMemoryProxy;
    /// let block = client.shared_memory(1 << 20).await?;         // 1 MiB
    /// block.map().await?.slice::<u64>()?.set(0, 42)?;
    /// // Elsewhere (another process attaches the token, or inherits the proxy):
    /// let other: SharedMemoryProxy = client.attach(block.token()).await?;
    /// assert_eq!(other.map().await?.slice::<u64>()?.get(0)?, 42);
    /// assert_eq!(other.size().await?, 1 << 20);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::SharedMemoryProxy`](crate::blocking::SharedMemoryProxy).
    SharedMemoryProxy, BlockingSharedMemoryProxy, [], SHARED_MEMORY
);

proxy_methods! {
    impl[] SharedMemoryProxy<>, BlockingSharedMemoryProxy {
        /// The block's size in bytes.
        async fn size(&self) -> u64 {
            call::<s::Size, _>(&self.handle, &()).await
        }
    }
}

impl SharedMemoryProxy {
    /// Maps the block into this process (pages are faulted in as they are touched).
    /// Fails clearly on another host ([`ShmError::OtherHost`]), another pid namespace or
    /// another user ([`ShmError::Open`], [`ShmError::NotTheBlock`]).
    pub async fn map(&self) -> Result<SharedMemory, ShmError> {
        self.map_with(false).await
    }

    /// [`map`](Self::map), faulting every page in now (`MAP_POPULATE`): the mapping
    /// costs more, the first touch of each page nothing. Use it to read a large block
    /// another process wrote: 256 MiB then read at memcpy's speed after a 6 ms mapping,
    /// where a plain mapping's first read ran at ~80% of it (docs/PERFORMANCE.md).
    pub async fn map_populated(&self) -> Result<SharedMemory, ShmError> {
        self.map_with(true).await
    }

    async fn map_with(&self, populate: bool) -> Result<SharedMemory, ShmError> {
        let d: BlockDescriptor = call::<s::Open, _>(&self.handle, &()).await?;
        let object = self.handle.object();
        let region = open::map(object, &d, populate)?;
        Ok(SharedMemory::new(region, object))
    }
}

impl BlockingSharedMemoryProxy {
    /// [`SharedMemoryProxy::map`].
    pub fn map(&self) -> Result<SharedMemory, ShmError> {
        manager_proto::__private::v1::run_call(&self.exec, async { Ok(self.inner.map_with(false).await) })?
    }

    /// [`SharedMemoryProxy::map_populated`].
    pub fn map_populated(&self) -> Result<SharedMemory, ShmError> {
        manager_proto::__private::v1::run_call(&self.exec, async { Ok(self.inner.map_with(true).await) })?
    }
}

constructors! {
    /// A new shared memory block of `size` bytes (zeroed), on the server's host. At
    /// least 1 byte; the server caps the bytes of its live blocks
    /// (`--max-shared-memory`, 1 GiB by default): past it, `LimitExceeded`.
    fn shared_memory[](&self, size: usize) -> SharedMemoryProxy | BlockingSharedMemoryProxy {
        self.create_builtin::<_, s::New>(&(size as u64,)).await
    }
}

impl crate::Client {
    /// A new block holding a [`ShareableList`] of `values` (each slot as large as the
    /// largest value's encoding), and the block's proxy, to hand to other processes.
    pub async fn shareable_list<T: Serialize + DeserializeOwned>(
        &self,
        values: &[T],
    ) -> Result<(SharedMemoryProxy, ShareableList<T>), ShmError> {
        self.shareable_list_with_slot(values, None).await
    }

    /// [`shareable_list`](Self::shareable_list) with slots of `slot` bytes (`None`: the
    /// largest value's encoding): room for values larger than the first ones.
    pub async fn shareable_list_with_slot<T: Serialize + DeserializeOwned>(
        &self,
        values: &[T],
        slot: Option<usize>,
    ) -> Result<(SharedMemoryProxy, ShareableList<T>), ShmError> {
        let size = ShareableList::size_for(values, slot)?;
        let block = self.shared_memory(size).await?;
        let list = block.map().await?.create_list(values, slot)?;
        Ok((block, list))
    }
}

impl crate::blocking::Client {
    /// [`Client::shareable_list`](crate::Client::shareable_list).
    pub fn shareable_list<T: Serialize + DeserializeOwned>(
        &self,
        values: &[T],
    ) -> Result<(BlockingSharedMemoryProxy, ShareableList<T>), ShmError> {
        self.shareable_list_with_slot(values, None)
    }

    /// [`Client::shareable_list_with_slot`](crate::Client::shareable_list_with_slot).
    pub fn shareable_list_with_slot<T: Serialize + DeserializeOwned>(
        &self,
        values: &[T],
        slot: Option<usize>,
    ) -> Result<(BlockingSharedMemoryProxy, ShareableList<T>), ShmError> {
        let (block, list) = self.run(async { Ok(self.as_async().shareable_list_with_slot(values, slot).await) })??;
        Ok((self.wrap::<BlockingSharedMemoryProxy>(block), list))
    }
}

// The proxy's type id is the contract's.
const _: () = assert!(SHARED_MEMORY.len() == "shared_memory".len());
#[allow(dead_code)]
fn _is_proxy() -> &'static str {
    <SharedMemoryProxy as Proxy>::shared_type_id()
}
