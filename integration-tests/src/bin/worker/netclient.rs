//! `net-client ADDRESS KEEPALIVE_MS`: a client the network tests run in a namespace of
//! their own, driven one command per line on stdin, answering one line per command.
//!
//! It connects at once (key from `MANAGER_AUTHKEY`, keepalive KEEPALIVE_MS) and prints
//! `ok connected ms=N` or `err KIND: MESSAGE ms=N`; then each command's outcome, in the
//! same form: `ok DETAIL ms=N` or `err KIND: MESSAGE ms=N`, N the milliseconds the
//! command took and KIND the error's variant (`ConnectionLost`, `ServerShutDown`,
//! `Remote(KIND)`, `Other`). The server is a `manager-server` with `--named
//! value:counter:i64:0 --named lock:lock --named queue:q`.
//!
//! Commands: `connect` (a new connection, replacing the old: what a test does after a
//! heal), `add N` (adds N to `counter`; prints the new value), `acquire` and `release`
//! (`lock`), `put LEN` (puts LEN bytes, a known pattern, into `q`), `get` (takes from
//! `q`, blocking; prints the length and `intact` or `corrupt`), `dict` (creates a dict
//! and keeps its proxy: a reference the server must release when the connection ends),
//! `dict-len` (the length of the last dict made: a call on an object the client created),
//! `exit`.
//!
//! With `NET_CLIENT_RECONNECT=1` in its environment it reconnects, resuming its session
//! (`ClientOptions::reconnect`, backoff from 50 ms up to 500 ms).

use manager_client::blocking::{self, DictProxy, LockProxy, QueueProxy, ValueProxy};
use manager_client::{AuthKey, ClientOptions, Error, Reconnect};
use std::io::BufRead;
use std::time::{Duration, Instant};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One connection and the proxies the commands use.
struct Session {
    counter: ValueProxy<i64>,
    lock: LockProxy,
    queue: QueueProxy<Vec<u8>>,
    /// Dicts made by `dict`, kept so that the connection holds references.
    dicts: Vec<DictProxy<String, u64>>,
    /// Last, so the proxies' releases go out before the connection closes.
    client: blocking::Client,
}

impl Session {
    fn open(address: &str, key: &AuthKey, options: &ClientOptions) -> std::result::Result<Session, Error> {
        let client = blocking::Client::connect_with(address, key.clone(), options)?;
        Ok(Session {
            counter: client.named("counter")?,
            lock: client.named("lock")?,
            queue: client.named("q")?,
            dicts: Vec::new(),
            client,
        })
    }
}

pub fn net_client(address: &str, keepalive_ms: u64) -> Result {
    let key = AuthKey::from_hex(&std::env::var("MANAGER_AUTHKEY")?)?;
    let reconnect = (std::env::var("NET_CLIENT_RECONNECT").as_deref() == Ok("1")).then_some(Reconnect {
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        attempt_timeout: Duration::from_secs(1),
    });
    let options = ClientOptions { keepalive: Duration::from_millis(keepalive_ms), reconnect, ..Default::default() };
    let started = Instant::now();
    let mut session = Session::open(address, &key, &options);
    report(started, session.as_ref().map(|_| "connected".to_owned()).map_err(Clone::clone));
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let started = Instant::now();
        if words == ["exit"] {
            break;
        }
        if words == ["connect"] {
            session = Session::open(address, &key, &options);
            report(started, session.as_ref().map(|_| "connected".to_owned()).map_err(Clone::clone));
            continue;
        }
        let Ok(s) = session.as_mut() else {
            println!("err Other: not connected ms=0");
            continue;
        };
        let outcome = match words.as_slice() {
            ["add", n] => {
                let n: i64 = n.parse()?;
                s.counter.fetch_add(n).map(|old| (old + n).to_string())
            }
            ["acquire"] => s.lock.acquire().map(|got| format!("acquired={got}")),
            ["release"] => s.lock.release().map(|()| "released".to_owned()),
            ["put", len] => s.queue.put(pattern(len.parse()?)).map(|()| "put".to_owned()),
            ["get"] => s.queue.get().map(|item| {
                let verdict = if item == pattern(item.len()) { "intact" } else { "corrupt" };
                format!("{} {verdict}", item.len())
            }),
            ["dict"] => s.client.dict::<String, u64>().map(|d| {
                s.dicts.push(d);
                format!("dicts={}", s.dicts.len())
            }),
            ["dict-len"] => match s.dicts.last() {
                Some(d) => d.len().map(|n| format!("len={n}")),
                None => Ok("no dict".to_owned()),
            },
            _ => return Err(format!("unknown net-client command {line:?}").into()),
        };
        report(started, outcome);
    }
    Ok(())
}

/// LEN bytes of a pattern a lost, repeated or reordered chunk breaks.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Prints one outcome line.
fn report(started: Instant, outcome: std::result::Result<String, Error>) {
    let ms = started.elapsed().as_millis();
    match outcome {
        Ok(detail) => println!("ok {detail} ms={ms}"),
        Err(e) => {
            let kind = match &e {
                Error::ConnectionLost { .. } => "ConnectionLost".to_owned(),
                Error::ServerShutDown { .. } => "ServerShutDown".to_owned(),
                Error::SessionLost { .. } => "SessionLost".to_owned(),
                Error::ServerRestarted { .. } => "ServerRestarted".to_owned(),
                Error::Remote(r) => format!("Remote({:?})", r.kind),
                _ => "Other".to_owned(),
            };
            println!("err {kind}: {e} ms={ms}");
        }
    }
}
