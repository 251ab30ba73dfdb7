//! Methods that return new shared objects (Python's `method_to_typeid`) and take
//! proxies as arguments: a `Vector` whose `add` returns a new `Vector` hosted on the
//! server, while `add_assign` changes the vector in place. A child process adds the
//! manager's two vectors, handed to it as proxies, and names the sum; an unrelated
//! process, which knows only the address, the key and the name, reads it.
//!
//! ```text
//! cargo run --example vector
//! ```
//!
//! Python registers `Vector` with `method_to_typeid={'__add__': 'Vector'}`; here `add`
//! returns `Shared<Vector>` and its proxy method returns a `VectorProxy`.

use manager_client::blocking::Client;
use manager_client::{Shared, shared};
use manager_server::Server;
use std::process::Command;
use std::time::{Duration, Instant};

/// A 2-D vector, living in the manager.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vector {
    x: i64,
    y: i64,
}

#[shared]
impl Vector {
    /// A vector.
    pub fn new(x: i64, y: i64) -> Self {
        Vector { x, y }
    }

    /// Its x coordinate.
    pub fn x(&self) -> i64 {
        self.x
    }

    /// Its y coordinate.
    pub fn y(&self) -> i64 {
        self.y
    }

    /// `self + other`, as a new vector hosted on the server. `other` is a proxy: on the
    /// server its calls go straight to the object, reading its fields remotely.
    pub async fn add(&self, other: VectorProxy) -> Result<Shared<Vector>, String> {
        let (x, y) = coordinates(&other).await?;
        Ok(Shared::new(Vector { x: self.x + x, y: self.y + y }))
    }

    /// `self += other`, in place.
    pub async fn add_assign(&mut self, other: VectorProxy) -> Result<(), String> {
        let (x, y) = coordinates(&other).await?;
        self.x += x;
        self.y += y;
        Ok(())
    }

    /// `k * self`, as a new vector.
    pub fn scaled(&self, k: i64) -> Shared<Vector> {
        Shared::new(Vector { x: k * self.x, y: k * self.y })
    }
}

async fn coordinates(v: &VectorProxy) -> Result<(i64, i64), String> {
    let x = v.x().await.map_err(|e| e.to_string())?;
    let y = v.y().await.map_err(|e| e.to_string())?;
    Ok((x, y))
}

fn show(v: &VectorBlockingProxy) -> Result<String, manager_client::Error> {
    Ok(format!("({}, {})", v.x()?, v.y()?))
}

const KEY: &str = "vector-example-key";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["child"] => child(),
        ["remote", address] => remote(address),
        _ => manager(),
    }
}

/// A child of the manager, handed `a` and `b`: adds, names the sum, adds in place.
fn child() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let (a, b): (VectorBlockingProxy, VectorBlockingProxy) = (client.inherited("a")?, client.inherited("b")?);
    let sum = a.add(b.as_async().clone())??;
    println!("child: a + b = {}", show(&sum)?);
    client.bind_name("sum", &sum)?;
    a.add_assign(b.as_async().clone())??;
    println!("child: a += b gives a = {}", show(&a)?);
    Ok(())
}

/// An unrelated process: only the address, the key and a name.
fn remote(address: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::connect(address, KEY)?;
    let sum: VectorBlockingProxy = client.named("sum")?;
    let doubled = sum.scaled(2)?;
    println!("remote: sum = {}, 2 * sum = {}", show(&sum)?, show(&doubled)?);
    Ok(())
}

fn manager() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder().authkey(KEY).register::<Vector>().start_blocking()?;
    let client = Client::connect(server.address(), KEY)?;
    let (a, b) = (VectorBlockingProxy::create(&client, 1, 2)?, VectorBlockingProxy::create(&client, 10, 20)?);
    client.worker().arg("child").proxy("a", &a).proxy("b", &b).spawn()?.join()?;
    // Not a child of ours: no server variables, no proxies — only what it is told.
    let remote = Command::new(std::env::current_exe()?).args(["remote", &server.address().to_string()]).status()?;
    if !remote.success() {
        return Err("the remote process failed".into());
    }
    println!("manager: a = {}", show(&a)?);
    // a, b and the named sum; the remote's doubled vector went with its connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.stats()?.objects != 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("manager: {} objects", client.stats()?.objects);
    Ok(())
}
