//! Reconnecting clients: what a session's relay costs a call, and how soon a client
//! calls again after a partition heals.

use crate::workloads::Ctx;
use integration_tests::cutter::Cutter;
use manager_client::{ClientOptions, Reconnect};
use std::time::{Duration, Instant};

fn with_reconnect(ctx: &Ctx, policy: Reconnect) -> Ctx {
    let options = ClientOptions { reconnect: Some(policy), ..ctx.options.clone() };
    Ctx { address: ctx.address.clone(), key: ctx.key.clone(), options, scale: ctx.scale }
}

/// One call (a dict `get`) in µs, through a reconnecting client (a session: a relay on
/// each side) when `session`, else through a plain one.
pub fn one_call(ctx: &Ctx, session: bool) -> f64 {
    let ctx = if session { with_reconnect(ctx, Reconnect::default()) } else { ctx.clone() };
    let n = ctx.n(20_000);
    let client = ctx.client();
    let d = client.dict::<u32, u32>().expect("dict");
    d.insert(1, 1).expect("insert");
    let start = Instant::now();
    for _ in 0..n {
        d.get(&1).expect("get");
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// What a 1 s partition costs a reconnecting client (backoff from 50 ms, doubling, at
/// most 1 s; the default): the link is cut and new connections are refused for a
/// second, while a call waits. Returns (ms from the heal to the call's answer, ms of it
/// spent waiting for the client's next attempt, round trips of one call from that
/// attempt's connection to the answer).
pub fn after_partition(ctx: &Ctx) -> (f64, f64, f64) {
    let cutter = Cutter::start(&ctx.address);
    let ctx = Ctx { address: cutter.address.clone(), ..with_reconnect(ctx, Reconnect::default()) };
    let client = ctx.client();
    let d = client.dict::<u32, u32>().expect("dict");
    d.insert(1, 1).expect("insert");
    let n = ctx.n(2_000);
    let start = Instant::now();
    for _ in 0..n {
        d.get(&1).expect("get");
    }
    let round_trip = start.elapsed().as_secs_f64() / n as f64;
    cutter.refuse(true);
    cutter.cut();
    let caller = std::thread::spawn(move || {
        d.insert(2, 2).expect("insert after the partition");
        Instant::now()
    });
    std::thread::sleep(Duration::from_secs(1));
    let healed = Instant::now();
    cutter.refuse(false);
    let answered = caller.join().expect("caller");
    let attempt = cutter.last_accepted().expect("the client reconnected").max(healed);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let after_attempt = answered.saturating_duration_since(attempt).as_secs_f64() / round_trip;
    (ms(answered - healed), ms(attempt - healed), after_attempt)
}
