//! Python's `ShareableList`: a fixed-length list in shared memory, each slot a fixed
//! capacity. The main process makes one; a worker process attaches it through the
//! block's proxy, reads it, and updates a slot; a value too large for its slot is
//! refused, as Python's "exceeds available storage".
//!
//! ```text
//! cargo run --example shareable_list
//! ```
//!
//! Python's version:
//!
//! ```python
//! from multiprocessing.managers import SharedMemoryManager
//! with SharedMemoryManager() as smm:
//!     sl = smm.ShareableList(['howdy', 'hi', 'hello'])
//!     # in another process: ShareableList(name=sl.shm.name)
//!     sl[1] = 'hey'
//! ```

use manager_client::ShareableList;
use manager_client::blocking::{Client, SharedMemoryProxy};
use manager_server::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        let block: SharedMemoryProxy = Client::from_env()?.inherited("list")?;
        let list: ShareableList<String> = block.map()?.list()?;
        println!("worker: read {:?}", list.to_vec()?);
        list.set(1, &"hey".to_string())?;
        if let Err(e) = list.set(2, &"good afternoon".to_string()) {
            println!("worker: {e}");
        }
        return Ok(());
    }
    let server = Server::builder().start_blocking()?;
    let client = Client::connect(server.address(), server.authkey())?;
    let words: Vec<String> = ["howdy", "hi", "hello"].map(String::from).to_vec();
    let (block, list) = client.shareable_list(&words)?;
    println!("main: slots of {} bytes", list.slot_size());
    client.worker().arg("worker").proxy("list", &block).spawn()?.join()?;
    println!("main: now {:?}", list.to_vec()?);
    Ok(())
}
