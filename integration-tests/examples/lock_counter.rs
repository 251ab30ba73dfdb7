//! Twenty processes each, under a shared `Lock`, increment a shared `Value`, add one
//! to every element of a shared list, and set a key in a shared dict. The value ends at
//! 20 and every list element at its start plus 20.
//!
//! ```text
//! cargo run --example lock_counter
//! ```
//!
//! Each worker reads and then writes (`value.set(value.get()? + 1)`): without the lock,
//! updates would be lost (Python's managers lose about a fifth of them in the same
//! race). For this particular update, `value.fetch_add(1)` needs no lock at all.
//! Python's version:
//!
//! ```python
//! from multiprocessing import Manager, Process
//!
//! def worker(lock, value, lst, d, n):
//!     with lock:
//!         value.value += 1
//!         for i in range(len(lst)):
//!             lst[i] += 1
//!         d[f'worker{n:02}'] = value.value
//!
//! if __name__ == '__main__':
//!     with Manager() as m:
//!         lock, value, lst, d = m.Lock(), m.Value('i', 0), m.list(range(10)), m.dict()
//!         ps = [Process(target=worker, args=(lock, value, lst, d, n)) for n in range(20)]
//!         for p in ps:
//!             p.start()
//!         for p in ps:
//!             p.join()
//!         print('value:', value.value)
//!         print('list:', list(lst))
//!         print('dict:', len(d), 'keys')
//! ```

use manager_client::blocking::{Client, DictProxy, ListProxy, LockProxy, ValueProxy};
use manager_server::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(n) = std::env::args().nth(1) {
        let c = Client::from_env()?;
        let (lock, value): (LockProxy, ValueProxy<u64>) = (c.inherited("lock")?, c.inherited("value")?);
        let (lst, d): (ListProxy<u64>, DictProxy<String, u64>) = (c.inherited("lst")?, c.inherited("d")?);
        let _guard = lock.lock()?;
        value.set(value.get()? + 1)?;
        for i in 0..lst.len()? as i64 {
            lst.set(i, lst.get(i)? + 1)?;
        }
        d.insert(format!("worker{n:0>2}"), value.get()?)?;
        return Ok(());
    }
    let server = Server::builder().start_blocking()?;
    let m = Client::connect(server.address(), server.authkey())?;
    let (lock, value, lst, d) =
        (m.lock()?, m.value(0u64)?, m.list_from(&Vec::from_iter(0..10u64))?, m.dict::<String, u64>()?);
    let worker = |n: u32| m.worker().arg(n.to_string()).proxy("lock", &lock).proxy("value", &value);
    let ps: Vec<_> = (0..20).map(|n| worker(n).proxy("lst", &lst).proxy("d", &d).spawn()).collect();
    ps.into_iter().try_for_each(|p| p?.join())?;
    println!("value: {}", value.get()?);
    println!("list: {:?}", lst.snapshot()?);
    println!("dict: {} keys", d.len()?);
    Ok(())
}
