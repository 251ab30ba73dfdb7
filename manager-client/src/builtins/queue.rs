//! `Queue` and `JoinableQueue` proxies.

use manager_proto::Item;
use std::time::Duration;

use super::{Data, One, call, call_element, call_with_item, item, items, proxy_methods, proxy_types, values};

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
            call_with_item(&self.handle, "put", &(), v, &(block, secs(timeout)), "Queue.put").await
        }

        /// Puts many items in order: as many as fit in one request, the rest one by one
        /// as room appears.
        async fn put_many(&self, vs: Vec<T>) -> () {
            let raw = items(&self.handle, &vs, "a queue item")?;
            let admitted: u64 = call(&self.handle, "put_many", &(raw,), "Queue.put_many").await?;
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
            call_element::<_, _, One>(&self.handle, "get", &(block, secs(timeout)), "Queue.get", "a queue item").await
        }

        /// Up to `max` items: waits for the first (until `timeout`, if given), then takes
        /// what else is there, in one request.
        async fn get_many(&self, max: usize, timeout: Option<Duration>) -> Vec<T> {
            let got: Vec<Item> =
                call(&self.handle, "get_many", &(max as u64, true, secs(timeout)), "Queue.get_many").await?;
            values(&self.handle, &got, "a queue item")
        }

        /// `q.qsize()`.
        async fn qsize(&self) -> usize {
            call::<_, u64>(&self.handle, "qsize", &(), "Queue.qsize").await.map(|n| n as usize)
        }

        /// `q.empty()`.
        async fn empty(&self) -> bool {
            call(&self.handle, "empty", &(), "Queue.empty").await
        }

        /// `q.full()`.
        async fn full(&self) -> bool {
            call(&self.handle, "full", &(), "Queue.full").await
        }

        /// `q.maxsize` (0: unbounded).
        async fn maxsize(&self) -> usize {
            call::<_, u64>(&self.handle, "maxsize", &(), "Queue.maxsize").await.map(|n| n as usize)
        }

        /// `q.shutdown(immediate)` (Python 3.13): later puts fail with `QueueShutDown`;
        /// gets drain what is left, then fail. `immediate` drops what is left at once.
        async fn shutdown(&self, immediate: bool) -> () {
            call(&self.handle, "shutdown", &(immediate,), "Queue.shutdown").await
        }

        /// `q.task_done()`; `InvalidValue` if called more times than items were put.
        async fn task_done(&self) -> () {
            call(&self.handle, "task_done", &(), "Queue.task_done").await
        }

        /// `q.join()`: waits until every item put has been marked done.
        async fn join(&self) -> () {
            call(&self.handle, "join", &(), "Queue.join").await
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
    QueueProxy, BlockingQueueProxy, manager_proto::builtin::QUEUE
);

queue_proxy!(
    /// A shared `JoinableQueue`: a [`QueueProxy`] whose `task_done` / `join` a program
    /// relies on (Python's manager gives both types every method; so do we). Create with
    /// `client.joinable_queue(maxsize)`.
    JoinableQueueProxy, BlockingJoinableQueueProxy, manager_proto::builtin::JOINABLE_QUEUE
);
