//! Shared memory rows (Unix phase only: a block's bytes never cross the socket, so the
//! transport does not matter): one process writes 256 MiB into a block and ANOTHER
//! process reads it, each paired with `memcpy` of as many bytes between two warm
//! buffers measured right next to it (target: ≥ 80% of memcpy). Mapping and the first
//! touch of a fresh block's pages are timed apart, with and without `MAP_POPULATE`.

use manager_client::blocking::{Client, SharedMemoryProxy};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::report::{Figure, Row, Unit};
use crate::workloads::Ctx;
use crate::{Paired, spread};

/// The bytes one repetition copies: 256 MiB at full scale (and `--quick`: the figure is
/// a bandwidth, and 256 MiB is the size), 2.5 MiB in smoke runs.
fn size(ctx: &Ctx) -> usize {
    if ctx.scale < 0.1 { (256usize << 20) / 100 } else { 256 << 20 }
}

/// `memcpy` of `n` bytes between two warm buffers, MB/s.
fn memcpy(n: usize) -> f64 {
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    dst.copy_from_slice(&src); // warm both
    let start = Instant::now();
    dst.copy_from_slice(std::hint::black_box(&src));
    std::hint::black_box(&dst);
    n as f64 / 1e6 / start.elapsed().as_secs_f64()
}

/// One repetition: a fresh block written by one child process and read by another.
/// Returns: write MB/s, read MB/s through a populated mapping, the first read's MB/s
/// through a plain one, the writer's map µs and first touch ms (`populate`: its mapping
/// with `MAP_POPULATE`), the reader's populated map µs.
fn one(ctx: &Ctx, populate: bool) -> [f64; 6] {
    let n = size(ctx);
    let client = ctx.client();
    let block = client.shared_memory(n).expect("block");
    let token = block.token().to_string();
    let w = child(ctx, &["shm-writer", &token, if populate { "populate" } else { "lazy" }]);
    let r = child(ctx, &["shm-reader", &token]);
    drop(block);
    [w[0], r[2], r[0], w[1], w[2], r[1]]
}

/// Runs a role of this binary and parses the numbers on its one line of output.
fn child(ctx: &Ctx, args: &[&str]) -> Vec<f64> {
    let key: String = ctx.key.iter().map(|b| format!("{b:02x}")).collect();
    let mut c = Command::new(std::env::current_exe().expect("exe"))
        .args(args)
        .env("BENCH_ADDRESS", &ctx.address)
        .env("BENCH_KEY", key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    std::io::BufReader::new(c.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("read");
    assert!(c.wait().expect("wait").success(), "{args:?} failed");
    line.split_whitespace().map(|x| x.parse().expect("a number")).collect()
}

fn env_block(token: &str) -> SharedMemoryProxy {
    let address = std::env::var("BENCH_ADDRESS").expect("BENCH_ADDRESS");
    let key = manager_client::AuthKey::from_hex(&std::env::var("BENCH_KEY").expect("BENCH_KEY")).expect("key");
    Client::connect(address.as_str(), key).expect("connect").attach(token).expect("attach")
}

/// Role `shm-writer TOKEN lazy|populate`: maps the block, touches every page once
/// (writing), then writes it whole from a warm buffer; prints MB/s, map µs, first
/// touch ms.
pub fn writer(token: &str, mode: &str) {
    let block = env_block(token);
    let start = Instant::now();
    let memory = if mode == "populate" { block.map_populated() } else { block.map() }.expect("map");
    let map_us = start.elapsed().as_secs_f64() * 1e6;
    let n = memory.len();
    let src: Vec<u8> = (0..n).map(|i| i as u8).collect();
    let start = Instant::now();
    for page in (0..n).step_by(4096) {
        memory.write(page, &[1]).expect("touch");
    }
    let first_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    memory.write(0, &src).expect("write");
    let mbps = n as f64 / 1e6 / start.elapsed().as_secs_f64();
    println!("{mbps} {map_us} {first_ms}");
}

/// Role `shm-reader TOKEN`: in another process than its writer, maps the block and
/// reads it whole into a warm buffer: first through a plain mapping (its first read
/// faults each page in), then through a populated one (`MAP_POPULATE`); prints the
/// first read's MB/s, the populated mapping's µs and its read's MB/s.
pub fn reader(token: &str) {
    let block = env_block(token);
    let mut dst = vec![0u8; 1];
    let mut read = |memory: &manager_client::SharedMemory| {
        let n = memory.len();
        dst.resize(n, 0);
        let start = Instant::now();
        memory.read(0, &mut dst).expect("read");
        let mbps = n as f64 / 1e6 / start.elapsed().as_secs_f64();
        assert!(dst.iter().enumerate().step_by(4099).all(|(i, b)| *b == i as u8), "the writer's bytes");
        mbps
    };
    let lazy = read(&block.map().expect("map"));
    let _ = read(&block.map().expect("map")); // the buffer warm, as memcpy's
    let start = Instant::now();
    let populated = block.map_populated().expect("map");
    let map_us = start.elapsed().as_secs_f64() * 1e6;
    println!("{lazy} {map_us} {}", read(&populated));
}

/// The rows `want` asks for.
#[allow(clippy::type_complexity)]
pub fn measure(
    ctx: &Ctx,
    reps: usize,
    want: &dyn Fn(&str) -> bool,
) -> Vec<(&'static str, String, Unit, Figure, Option<Paired>)> {
    let ids = ["shm-write", "shm-read", "shm-read-lazy", "shm-first", "shm-first-pop"];
    if !ids.iter().any(|id| want(id)) {
        return Vec::new();
    }
    let n = size(ctx);
    let mb = n >> 20;
    let mut runs = Vec::new();
    let mut floors = Vec::new();
    for i in 0..reps.max(1) {
        if i % 2 == 0 {
            floors.push(memcpy(n));
            runs.push(one(ctx, false));
        } else {
            runs.push(one(ctx, false));
            floors.push(memcpy(n));
        }
    }
    let pop: Vec<[f64; 6]> = (0..reps.max(1)).map(|_| one(ctx, true)).collect();
    let col = |rs: &[[f64; 6]], k: usize| rs.iter().map(|r| r[k]).collect::<Vec<_>>();
    let pair = |ours: Vec<f64>| {
        let ratio = ours.iter().zip(&floors).map(|(o, f)| f / o).collect();
        Paired { ours: spread(ours), floor: spread(floors.clone()), ratio: spread(ratio), cpu: None, floor_cpu: None }
    };
    let (write, read, lazy) = (pair(col(&runs, 0)), pair(col(&runs, 1)), pair(col(&runs, 2)));
    let reader_map = spread(col(&runs, 5));
    let (map_lazy, first_lazy) = (spread(col(&runs, 3)), spread(col(&runs, 4)));
    let (map_pop, first_pop, write_pop) = (spread(col(&pop, 3)), spread(col(&pop, 4)), spread(col(&pop, 0)));
    eprintln!(
        "shm: {mb} MiB written at {:.0} MB/s, read by another process at {:.0} MB/s after a populated mapping \
         ({:.1} ms), {:.0} MB/s through a plain mapping's first read; memcpy {:.0} MB/s: {:.0}%, {:.0}% and \
         {:.0}% of memcpy",
        write.ours.median,
        read.ours.median,
        reader_map.median / 1e3,
        lazy.ours.median,
        write.floor.median,
        100.0 / write.ratio.median,
        100.0 / read.ratio.median,
        100.0 / lazy.ratio.median
    );
    eprintln!(
        "shm: mapping {:.0} µs + first touch of every page {:.1} ms; with MAP_POPULATE mapping {:.1} ms + first \
         touch {:.1} ms (then writing at {:.0} MB/s)",
        map_lazy.median,
        first_lazy.median,
        map_pop.median / 1e3,
        first_pop.median,
        write_pop.median
    );
    let plus = |a: &Figure, b: &Figure| Figure::single(a.median / 1e3 + b.median);
    vec![
        (
            "shm-write",
            format!("write {mb} MiB into a block, MB/s (floor: memcpy)"),
            Unit::MBps,
            write.ours.clone(),
            Some(write),
        ),
        (
            "shm-read",
            format!("another process reads {mb} MiB from it (map_populated), MB/s (floor: memcpy)"),
            Unit::MBps,
            read.ours.clone(),
            Some(read),
        ),
        (
            "shm-read-lazy",
            "the same through map(): its first read faults the pages in, MB/s (floor: memcpy)".to_owned(),
            Unit::MBps,
            lazy.ours.clone(),
            Some(lazy),
        ),
        (
            "shm-first",
            format!("map a fresh {mb} MiB block + first touch of its pages, ms"),
            Unit::Millis,
            plus(&map_lazy, &first_lazy),
            None,
        ),
        (
            "shm-first-pop",
            "the same with MAP_POPULATE (map_populated), ms".to_owned(),
            Unit::Millis,
            plus(&map_pop, &first_pop),
            None,
        ),
    ]
}

/// Fills the rows' Python column from `bench/shm_bench.py` (Python's
/// `multiprocessing.shared_memory.SharedMemory` doing the same), or notes its absence.
pub fn python(rows: &mut [Row], pinned: bool) {
    if !rows.iter().any(|r| r.id.starts_with("shm-")) {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/shm_bench.py");
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "python3"]);
        c
    } else {
        Command::new("python3")
    };
    let out = match cmd.arg(script).stderr(Stdio::inherit()).output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => return eprintln!("note: the Python shared memory comparison failed ({})", o.status),
        Err(e) => return eprintln!("note: no python3 ({e}); the shared memory rows' Python column is skipped"),
    };
    let figures: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(&out.stdout) {
        Ok(f) => f,
        Err(e) => return eprintln!("note: shm_bench.py printed something unexpected ({e})"),
    };
    for r in rows.iter_mut().filter(|r| r.transport == "unix") {
        if let Some(v) = figures.get(&r.id) {
            let get = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
            r.python = Some(Figure { median: get("median"), min: get("min"), max: get("max") });
        }
    }
}
