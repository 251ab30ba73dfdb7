//! `Queue` and `JoinableQueue` proxies.

use manager_proto::Item;
use manager_proto::builtin::queue as q;
use std::time::Duration;

use super::{
    Data, One, call, call_element, call_with_item, constructors, item, items, proxy_methods, proxy_types, values,
};

fn secs(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64())
}

macro_rules! queue_proxy {
    ($(#[$doc:meta])* $proxy:ident, $blocking:ident, $type_id:expr) => {
proxy_types!($(#[$doc])* $proxy, $blocking, [T], $type_id);

proxy_methods! {
    impl[T: Data] $proxy<T>, $blocking {
        /// `q.put(v)`: waits for room if the queue is bounded and full.
        async fn put(&self, v: T) -> () {
            self.put_with(v, true, None).await
        }

        /// `q.put(v, timeout=t)`: `Full` if no room came within `t`.
        async fn put_timeout(&self, v: T, t: Duration) -> () {
            self.put_with(v, true, Some(t)).await
        }

        /// `q.put_nowait(v)`: `Full` at once if there is no room.
        async fn put_nowait(&self, v: T) -> () {
            self.put_with(v, false, None).await
        }

        /// `q.put(v, block, timeout)`, Python's full form.
        async fn put_with(&self, v: T, block: bool, timeout: Option<Duration>) -> () {
            let v = item(&self.handle, &v, "a queue item")?;
            call_with_item::<q::Put, _, _, _>(&self.handle, &(), v, &(block, secs(timeout))).await
        }

        /// Puts many items in order: as many as fit in one request, the rest one by one
        /// as room appears.
        async fn put_many(&self, vs: Vec<T>) -> () {
            let raw = items(&self.handle, &vs, "a queue item")?;
            let admitted: u64 = call::<q::PutMany, _>(&self.handle, &(raw,)).await?;
            for v in vs.into_iter().skip(admitted as usize) {
                self.put(v).await?;
            }
            Ok(())
        }

        /// `q.get()`: waits for an item.
        async fn get(&self) -> T {
            self.get_with(true, None).await
        }

        /// `q.get(timeout=t)`: `Empty` if nothing came within `t`.
        async fn get_timeout(&self, t: Duration) -> T {
            self.get_with(true, Some(t)).await
        }

        /// `q.get_nowait()`: `Empty` at once if there is nothing.
        async fn get_nowait(&self) -> T {
            self.get_with(false, None).await
        }

        /// `q.get(block, timeout)`, Python's full form.
        async fn get_with(&self, block: bool, timeout: Option<Duration>) -> T {
            call_element::<q::Get, _, One>(&self.handle, &(block, secs(timeout)), "a queue item").await
        }

        /// Up to `max` items: waits for the first (until `timeout`, if given), then takes
        /// what else is there, in one request.
        async fn get_many(&self, max: usize, timeout: Option<Duration>) -> Vec<T> {
            let got: Vec<Item> =
                call::<q::GetMany, _>(&self.handle, &(max as u64, true, secs(timeout))).await?;
            values(&self.handle, &got, "a queue item")
        }

        /// `q.qsize()`.
        async fn qsize(&self) -> usize {
            call::<q::Qsize, u64>(&self.handle, &()).await.map(|n| n as usize)
        }

        /// `q.empty()`.
        async fn empty(&self) -> bool {
            call::<q::Empty, _>(&self.handle, &()).await
        }

        /// `q.full()`.
        async fn full(&self) -> bool {
            call::<q::Full, _>(&self.handle, &()).await
        }

        /// `q.maxsize` (0: unbounded).
        async fn maxsize(&self) -> usize {
            call::<q::Maxsize, u64>(&self.handle, &()).await.map(|n| n as usize)
        }

        /// `q.shutdown(immediate)` (Python 3.13): later puts fail with `QueueShutDown`;
        /// gets drain what is left, then fail. `immediate` drops what is left at once.
        async fn shutdown(&self, immediate: bool) -> () {
            call::<q::Shutdown, _>(&self.handle, &(immediate,)).await
        }

        /// `q.task_done()`; `InvalidValue` if called more times than items were put.
        async fn task_done(&self) -> () {
            call::<q::TaskDone, _>(&self.handle, &()).await
        }

        /// `q.join()`: waits until every item put has been marked done.
        async fn join(&self) -> () {
            call::<q::Join, _>(&self.handle, &()).await
        }
    }
}
    };
}

queue_proxy!(
    /// A shared `Queue`: FIFO, optionally bounded. Blocking `get` and `put` wait on the
    /// server, costing no thread and holding up nothing else; a timed-out `get` fails
    /// with `Empty`, a timed-out `put` with `Full`. A `get` whose caller gives up never
    /// loses its item. Create with `client.queue(maxsize)` (0 = unbounded).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use manager_client::RemoteErrorKind;
    /// use std::time::Duration;
    /// let q = client.queue::<String>(2).await?; // q = manager.Queue(maxsize=2)
    /// q.put("a".into()).await?; // q.put("a")
    /// q.put_nowait("b".into()).await?; // q.put_nowait("b")
    /// assert!(q.full().await?);
    /// let err = q.put_timeout("c".into(), Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.remote_kind(), Some(RemoteErrorKind::Full)); // queue.Full
    /// assert_eq!(q.get().await?, "a"); // q.get(): first in, first out
    /// assert_eq!(q.get_timeout(Duration::from_millis(10)).await?, "b"); // q.get(timeout=0.01)
    /// let err = q.get_timeout(Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.remote_kind(), Some(RemoteErrorKind::Empty)); // queue.Empty
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::QueueProxy`](crate::blocking::QueueProxy),
    /// the same methods without `.await`.
    QueueProxy, BlockingQueueProxy, manager_proto::builtin::QUEUE
);

queue_proxy!(
    /// A shared `JoinableQueue`: a [`QueueProxy`] whose `task_done` / `join` a program
    /// relies on (Python's manager gives both types every method; so do we). Create with
    /// `client.joinable_queue(maxsize)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// let q = client.joinable_queue::<u32>(0).await?; // q = manager.JoinableQueue()
    /// q.put_many(vec![1, 2, 3]).await?;
    /// // A worker task (Python: a worker process) marks each item done.
    /// let worker = tokio::spawn({
    ///     let q = q.clone();
    ///     async move {
    ///         let mut sum = 0;
    ///         for _ in 0..3 {
    ///             sum += q.get().await?;
    ///             q.task_done().await?; // q.task_done()
    ///         }
    ///         Ok::<_, manager_client::Error>(sum)
    ///     }
    /// });
    /// q.join().await?; // q.join(): returns once every item put is marked done
    /// assert_eq!(worker.await??, 6);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::JoinableQueueProxy`](crate::blocking::JoinableQueueProxy),
    /// the same methods without `.await`.
    JoinableQueueProxy, BlockingJoinableQueueProxy, manager_proto::builtin::JOINABLE_QUEUE
);

constructors! {
    /// A new shared `Queue`; `maxsize` 0 means unbounded.
    fn queue[T: Data](&self, maxsize: usize) -> QueueProxy<T> | BlockingQueueProxy<T> {
        self.create_builtin::<_, q::New>(&(maxsize as u64,)).await
    }

    /// A new shared `JoinableQueue`; `maxsize` 0 means unbounded.
    fn joinable_queue[T: Data](&self, maxsize: usize) -> JoinableQueueProxy<T> | BlockingJoinableQueueProxy<T> {
        self.create_builtin::<_, q::New>(&(maxsize as u64,)).await
    }
}
