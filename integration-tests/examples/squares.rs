//! Stream methods: a `#[shared]` method returning `impl Iterator<Item = T>` is read
//! as a stream. CPython's manager tests share a generator of squares; here the
//! manager hosts a `Squares` object, and a worker — this same program, run again
//! (`client.worker()`) — reads its squares as an iterator, while they are produced:
//! the items come in batches as the reader takes them, not all at once, so even an
//! endless iterator can be read, and dropped when the reader has had enough.
//!
//! ```text
//! cargo run --example squares
//! ```
//!
//! Python's version:
//!
//! ```python
//! def squares(n):
//!     for i in range(n):
//!         yield i * i
//! ```

use manager_client::blocking::Client;
use manager_client::shared;
use manager_server::Server;

const KEY: &[u8] = b"squares example key";

/// Hands out squares.
#[derive(Debug, Default)]
pub struct Squares;

#[shared]
impl Squares {
    /// `i * i` for `i` in `0..n`.
    pub fn squares(&self, n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(|i| i * i)
    }

    /// Every square, without end.
    pub fn all_squares(&self) -> impl Iterator<Item = u64> {
        (0u64..).map(|i| i.saturating_mul(i))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["worker"] => worker(),
        _ => manager(),
    }
}

/// A worker, handed the `Squares`: reads ten squares, then the first one over 1000 of
/// the endless ones.
fn worker() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let squares: SquaresBlockingProxy = client.inherited("squares")?;
    let first = squares.squares(10).collect::<Result<Vec<u64>, _>>()?;
    println!("worker: squares(10) = {first:?}");
    // Dropping the stream stops the server's iterator.
    let big = squares.all_squares().find(|s| s.as_ref().map_or(true, |&s| s > 1000)).transpose()?;
    println!("worker: the first square over 1000 is {}", big.unwrap_or_default());
    Ok(())
}

fn manager() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder().authkey(KEY).register::<Squares>().start_blocking()?;
    let client = Client::connect(server.address(), KEY)?;
    let squares = SquaresBlockingProxy::create(&client)?;
    client.worker().arg("worker").proxy("squares", &squares).spawn()?.join()?;
    let sum: u64 = squares.squares(1000).sum::<Result<u64, _>>()?;
    println!("manager: the squares of 0..1000 add up to {sum}");
    Ok(())
}
