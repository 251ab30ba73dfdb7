//! Roles for the shared memory tests (`tests/it/shm.rs`): children that map a block
//! their parent handed over, and holders that map one and wait to be killed.

use super::Result;
use manager_client::ShareableList;
use manager_client::blocking::{self, SharedMemoryProxy};

/// `shm-rw NAME`: maps the block handed over as NAME — 16 `u64`s, then 16 `f64`s —
/// prints the sum of each, then writes each `u64` times 10 and each `f64` plus 0.5.
pub(super) fn read_write(name: &str) -> Result {
    let block: SharedMemoryProxy = blocking::Client::from_env()?.inherited(name)?;
    let memory = block.map()?;
    let ints = memory.slice_at::<u64>(0, 16)?;
    let floats = memory.slice_at::<f64>(128, 16)?;
    let (i, f) = (ints.to_vec(), floats.to_vec());
    println!("u64 sum {} f64 sum {}", i.iter().sum::<u64>(), f.iter().sum::<f64>());
    ints.copy_from_slice(0, &i.iter().map(|x| x * 10).collect::<Vec<_>>())?;
    for (k, x) in f.iter().enumerate() {
        floats.set(k, x + 0.5)?;
    }
    Ok(())
}

/// `shm-list NAME`: attaches the `ShareableList<String>` in the block handed over as
/// NAME, prints it, sets slot 0 to "child", and prints the error of a value too large
/// for slot 1.
pub(super) fn list(name: &str) -> Result {
    let block: SharedMemoryProxy = blocking::Client::from_env()?.inherited(name)?;
    let list: ShareableList<String> = block.map()?.list()?;
    println!("{:?}", list.to_vec()?);
    list.set(0, &"child".to_string())?;
    match list.set(1, &"x".repeat(100)) {
        Ok(()) => println!("no error"),
        Err(e) => println!("{e}"),
    }
    Ok(())
}

/// `shm-hold [TOKEN]`: maps the block TOKEN names (or a new one of 1 MiB, whose token
/// it prints), writes its first byte, prints `mapped`, and waits to be killed.
pub(super) fn hold(token: Option<&str>) -> Result {
    let client = blocking::Client::from_env()?;
    let block: SharedMemoryProxy = match token {
        Some(token) => client.attach(token)?,
        None => {
            let block = client.shared_memory(1 << 20)?;
            println!("{}", block.token());
            block
        }
    };
    let memory = block.map()?;
    memory.write(0, &[7])?;
    println!("mapped");
    // Hold the proxy and the mapping until killed; the watchdog ends a leftover.
    loop {
        std::thread::park();
    }
}

/// `shm-map TOKEN`: attaches the block TOKEN names and maps it; prints `mapped` or
/// `error: ...` (the test of a client in another pid namespace reads which).
pub(super) fn map(token: &str) -> Result {
    let block: SharedMemoryProxy = blocking::Client::from_env()?.attach(token)?;
    match block.map() {
        Ok(memory) => println!("mapped {} bytes", memory.len()),
        Err(e) => println!("error: {e}"),
    }
    Ok(())
}
