//! Ten worker processes each write `d[i] = i * 2` into one shared dict; the main
//! process prints its items.
//!
//! ```text
//! cargo run --example dict_workers
//! ```
//!
//! A worker is this program run again with its number; it gets the dict the way
//! Python's `Process(args=(d, i))` does, as a proxy handed over (`.proxy("d", &d)`,
//! then `inherited("d")`). Python's version:
//!
//! ```python
//! from multiprocessing import Manager, Process
//!
//! def f(d, i):
//!     d[i] = i * 2
//!
//! if __name__ == '__main__':
//!     with Manager() as manager:
//!         d = manager.dict()
//!         ps = [Process(target=f, args=(d, i)) for i in range(10)]
//!         for p in ps:
//!             p.start()
//!         for p in ps:
//!             p.join()
//!         print(dict(sorted(d.items())))
//! ```

use manager_client::blocking::{Client, DictProxy};
use manager_server::Server;
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(i) = std::env::args().nth(1) {
        let (i, d): (u32, DictProxy<u32, u32>) = (i.parse()?, Client::from_env()?.inherited("d")?);
        d.insert(i, i * 2)?;
        return Ok(());
    }
    let server = Server::builder().start_blocking()?;
    let client = Client::connect(server.address(), server.authkey())?;
    let d = client.dict::<u32, u32>()?;
    let ps: Vec<_> = (0..10).map(|i| client.worker().arg(i.to_string()).proxy("d", &d).spawn()).collect();
    ps.into_iter().try_for_each(|p| p?.join())?;
    println!("{:?}", d.items().collect::<Result<BTreeMap<_, _>, _>>()?);
    Ok(())
}
