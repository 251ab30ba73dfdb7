//! The client half of an interface shared between programs: it knows the counter only
//! by its `#[shared]` trait (`counter_api`, the interface crate in
//! `integration-tests/counter-api`), and uses whatever type `interface_server`
//! implements it with: the named `hits`, and one of its own. See `interface_server`
//! for how to run the two.

use counter_api::CounterBlockingProxy;
use manager_client::blocking::Client;

fn main() {
    if let Err(e) = run() {
        eprintln!("interface_client: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: &str| {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
    };
    let (address, key) = (value("--address", "tcp://127.0.0.1:50506"), value("--key", "interface-example-key"));
    let client = Client::connect(address.as_str(), key.as_bytes())?;
    if args.iter().any(|a| a == "--stop") {
        client.shutdown_server()?;
        println!("interface_client: asked the server to stop");
        return Ok(());
    }
    let hits: CounterBlockingProxy = client.named("hits")?;
    println!("interface_client: hits = {}", hits.incr(1)?);
    let mine = CounterBlockingProxy::create(&client, 40)?;
    mine.incr(2)?;
    println!("interface_client: mine = {}, above 41: {}", mine.get()?, mine.wait_above(41)?);
    match mine.take(100)? {
        Ok(left) => println!("interface_client: took 100, {left} left"),
        Err(refused) => println!("interface_client: the server refused: {refused}"),
    }
    Ok(())
}
