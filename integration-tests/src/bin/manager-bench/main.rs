//! `manager-bench`: this project side by side with the raw-socket floor, Python's
//! `multiprocessing.managers` and Redis, in one run.
//!
//! ```text
//! cargo run --release -p integration-tests --bin manager-bench -- [--quick] [--json PATH] [--svg PATH]
//! ```
//!
//! Every workload runs over a Unix socket and TCP loopback, twice: with every process
//! pinned to one core (`taskset -c 0`: the stable figure, showing CPU cost) and left to
//! the scheduler (where a wake-up on another core costs tens of microseconds). Figures
//! are medians of several repetitions, with min–max. See `docs/PERFORMANCE.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure is a crash with a message

mod compare;
mod cpu;
mod iteration;
mod pingpong;
mod pool;
mod raw;
mod report;
mod rings;
mod sessions;
mod shared_page;
mod shm;
mod tls;
mod watching;
mod workloads;

use report::{Figure, Row, Unit};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;
use workloads::Ctx;

fn main() {
    // This binary is its own pool's workers (the pool rows): a worker runs here, then exits.
    manager_client::serve_jobs(integration_tests::jobs::all());
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(1) {
        // Roles this binary plays in its own child processes.
        "serve" => workloads::serve(arg(2), arg(3).parse().unwrap_or(0)),
        "raw-echo" => raw::serve(arg(2), arg(3)).expect("raw echo"),
        "dict-client" => workloads::dict_client(arg(2).parse().unwrap_or(1), arg(3)),
        "producer" => workloads::producer(arg(2).parse().unwrap_or(1), arg(3) == "batched", arg(4)),
        "consumer" => workloads::consumer(arg(2) == "batched", arg(3)),
        "phase" => phase(&args[2..]),
        "shm-writer" => shm::writer(arg(2), arg(3)),
        "shm-reader" => shm::reader(arg(2)),
        "pingpong-child" => pingpong::child(arg(2), arg(3)),
        _ => orchestrate(&<Options as clap::Parser>::parse()),
    }
}

/// Measures this project side by side with a raw-socket floor, Python's
/// `multiprocessing.managers` and Redis, in one run (10–15 minutes on 2 cores; see
/// docs/PERFORMANCE.md). `BENCH_ONLY=id,id,...` in the environment runs just those
/// workloads.
#[derive(Debug, clap::Parser)]
#[command(name = "manager-bench")]
struct Options {
    /// Fewer repetitions and smaller counts (about 3 minutes).
    #[arg(long)]
    quick: bool,
    /// Tiny counts, one repetition, no comparisons: proves every workload still runs
    /// (what CI does).
    #[arg(long)]
    smoke: bool,
    /// Write the figures as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<String>,
    /// Draw the ratios chart as SVG to PATH.
    #[arg(long, value_name = "PATH")]
    svg: Option<String>,
    /// Skip Python's managers.
    #[arg(long)]
    no_python: bool,
    /// Skip Redis.
    #[arg(long)]
    no_redis: bool,
}

fn orchestrate(opts: &Options) {
    let smoke = opts.smoke;
    let pin = !smoke && Command::new("taskset").arg("--version").output().is_ok_and(|o| o.status.success());
    let mut placements = vec![("unpinned", false)];
    if pin {
        placements.insert(0, ("pinned", true));
    }
    println!("manager-bench: {} core(s), {}", cores(), machine());
    let mut all: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for (placement, pinned) in placements {
        let mut rows = Vec::new();
        for transport in ["unix", "tcp"] {
            let out = tempfile::NamedTempFile::new().expect("temp");
            let exe = std::env::current_exe().expect("exe");
            let mut cmd = if pinned {
                let mut c = Command::new("taskset");
                c.args(["-c", "0"]).arg(&exe);
                c
            } else {
                Command::new(&exe)
            };
            cmd.args(["phase", transport, out.path().to_str().unwrap()]);
            if opts.quick {
                cmd.arg("--quick");
            }
            if smoke {
                cmd.arg("--smoke");
            }
            eprintln!("== {placement}, {transport}");
            let status = cmd.status().expect("phase");
            assert!(status.success(), "the {placement} {transport} phase failed");
            let mut phase_rows: Vec<Row> = serde_json::from_str(&std::fs::read_to_string(out.path()).unwrap()).unwrap();
            if !opts.no_python && !smoke {
                compare::python(&mut phase_rows, transport, pinned, opts.quick);
                pool::python(&mut phase_rows, pinned, opts.quick);
                shm::python(&mut phase_rows, pinned);
            }
            if !opts.no_redis && !smoke {
                compare::redis(&mut phase_rows, transport, pinned, opts.quick);
            }
            rows.extend(phase_rows);
        }
        report::print_table(placement, &rows);
        all.insert(placement.to_owned(), rows);
    }
    if let Some(path) = &opts.json {
        std::fs::write(path, report::to_json(&all)).expect("write json");
        println!("figures written to {path}");
    }
    if let Some(path) = &opts.svg {
        std::fs::write(path, report::svg(&all)).expect("write svg");
        println!("chart written to {path}");
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    format!("{cpu}, {}", std::env::consts::OS)
}

/// One transport, one placement: measures everything of ours and the raw floor, and
/// writes the rows to `out`.
fn phase(args: &[String]) {
    let transport = args[0].as_str();
    let out = &args[1];
    let quick = args.iter().any(|a| a == "--quick");
    let smoke = args.iter().any(|a| a == "--smoke");
    let scale = if smoke {
        0.01
    } else if quick {
        0.25
    } else {
        1.0
    };
    let reps = if smoke {
        1
    } else if quick {
        3
    } else {
        5
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = |name: &str| match transport {
        "unix" => format!("unix:{}", dir.path().join(name).display()),
        _ => "tcp://127.0.0.1:0".to_owned(),
    };
    let key = b"bench-key".to_vec();

    // The raw floor: a blocking echo server with a thread per connection (as Python's
    // managers), and the same busy-polling. Its echo servers stay up for the whole
    // phase: each repetition of a workload of ours is paired with a repetition of its
    // floor measured right next to it (see `paired`).
    let (mut raw_server, raw_addr) = spawn_line(&["raw-echo", &addr("raw.sock"), "block"]);
    let (mut spin_server, spin_addr) = spawn_line(&["raw-echo", &addr("spin.sock"), "spin"]);
    let (mut once_server, once_addr) = spawn_line(&["raw-echo", &addr("once.sock"), "once"]);
    // The same echo on a bare tokio runtime: how much of a ratio is the runtime's own.
    let (mut tokio_server, tokio_addr) = spawn_line(&["raw-echo", &addr("tokio.sock"), "tokio"]);
    // And on one thread over epoll (a current_thread tokio runtime): the other floor.
    let (mut epoll_server, epoll_addr) = spawn_line(&["raw-echo", &addr("epoll.sock"), "epoll"]);
    let n_rt = ((20_000.0 * scale) as usize).max(50);
    let echo_rt = |server: &std::process::Child, address: &str, spin: bool| {
        cpu::with_cpu(&[server.id()], || {
            let (d, connection) = raw::ping_pong(address, n_rt, 24, 8, spin).unwrap();
            (per_op(d, n_rt), connection)
        })
    };
    let round_trip_cpu = || echo_rt(&raw_server, &raw_addr, false);
    let round_trip = || round_trip_cpu().0;
    let busy_round_trip_cpu = || echo_rt(&spin_server, &spin_addr, true);
    let n_pipe = ((200_000.0 * scale) as usize).max(640);
    let pipe = || rate(raw::pipelined(&raw_addr, n_pipe, 64, 24, 8).unwrap(), n_pipe);
    let n_bulk = ((200.0 * scale) as usize).max(10);
    let bulk = || {
        let d = raw::echo_bulk(&raw_addr, n_bulk, 1 << 20).unwrap();
        (2 * n_bulk * (1 << 20)) as f64 / 1e6 / d.as_secs_f64()
    };
    let n_conn = ((200.0 * scale) as usize).max(20);
    let conn = || per_op(raw::connect_rtt(&once_addr, n_conn).unwrap(), n_conn);

    // Ours: a manager server in its own process.
    // BENCH_ONLY=id,id,...: run just those workloads (for investigating one figure).
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY").ok().map(|v| v.split(',').map(str::to_owned).collect());
    let want = |id: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == id));
    let row = |id: &str, name: &str, unit: Unit, ours: Figure, floor: Option<Paired>| Row {
        id: id.into(),
        name: name.into(),
        transport: transport.into(),
        unit,
        ours: Some(ours),
        floor: floor.as_ref().map(|p| p.floor.clone()),
        cpu: floor.as_ref().and_then(|p| p.cpu.clone()),
        floor_cpu: floor.as_ref().and_then(|p| p.floor_cpu.clone()),
        floor_ratio: floor.map(|p| p.ratio),
        python: None,
        redis: None,
        python_cpu: None,
    };
    let mut rows = Vec::new();
    let (mut server, address) = workloads::start_server(&addr("m.sock"), &key, 0);
    let ctx = Ctx { address, key: key.clone(), options: manager_client::ClientOptions::default(), scale };
    let on_server = |f: fn(&Ctx) -> Duration, ctx: &Ctx, server: &std::process::Child| {
        cpu::with_cpu(&[server.id()], || (us(f(ctx)), ()))
    };
    if want("dict") {
        let p = paired_cpu(reps, Unit::Micros, || on_server(workloads::dict_ops, &ctx, &server), round_trip_cpu);
        rows.push(row("dict", "dict insert + get, 1 client", Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("dict2") {
        let f = median(reps, || workloads::dict_two_processes(&ctx));
        rows.push(row("dict2", "dict insert + get, 2 client processes", Unit::OpsPerSec, f, None));
    }
    if want("tokio") {
        // Not ours, for scale: what a tokio-based server costs before it does any work.
        let p = paired_cpu(reps, Unit::Micros, || echo_rt(&tokio_server, &tokio_addr, false), round_trip_cpu);
        let name = "bare tokio echo server, multi-thread runtime (not ours)";
        rows.push(row("tokio", name, Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("epoll") {
        // The two socket floors side by side: one thread on epoll against a blocking
        // thread per connection.
        let p = paired_cpu(reps, Unit::Micros, || echo_rt(&epoll_server, &epoll_addr, false), round_trip_cpu);
        let name = "epoll echo, one thread (a floor; floor: blocking thread per connection)";
        rows.push(row("epoll", name, Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("incr") {
        let p = paired_cpu(reps, Unit::Micros, || on_server(workloads::incr, &ctx, &server), round_trip_cpu);
        rows.push(row("incr", "#[shared] incr()", Unit::Micros, p.ours.clone(), Some(p)));
    }
    for (items, label) in [(10_000usize, "10k"), (100_000, "100k")] {
        let items = ((items as f64 * scale) as usize).max(100);
        let r = if quick && label == "100k" { 1 } else { reps };
        for (batched, suffix, how) in [(false, "", "one per call"), (true, "b", "batched")] {
            let id = format!("queue{label}{suffix}");
            if want(&id) {
                let f = median(r, || workloads::queue(&ctx, items, batched));
                let name = format!("queue producer -> consumer, {label} items, {how}");
                rows.push(row(&id, &name, Unit::OpsPerSec, f, None));
            }
        }
    }
    if want("handoff") {
        // One round trip (the receiver's Incref) per hand-off: that is its floor.
        let p = paired(reps, Unit::Micros, || us(workloads::handoff(&ctx)), round_trip);
        let name = "hand a dict proxy to another connection (token, attach, drop)";
        rows.push(row("handoff", name, Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("lock") {
        // A pair is two calls: its floor is two round trips.
        let p = paired(reps, Unit::Micros, || us(workloads::lock_pairs(&ctx)), || 2.0 * round_trip());
        rows.push(row("lock", "Lock acquire + release (per pair)", Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("drain") {
        let r = if quick { 1 } else { reps };
        let f = median(r, || workloads::dict_drain(&ctx));
        let name = "dict drain, 1M keys removed oldest first, 64 in flight";
        rows.push(row("drain", name, Unit::OpsPerSec, f, None));
    }
    if want("iter") {
        // 1M u64s read live through `iter()`, paired with the same list copied by one
        // `snapshot()`: the ratio is the stream's cost (≤ 2: at least half the copy's
        // rate). Then the time to a fresh stream's first item, paired with one call.
        let n = ((1_000_000.0 * scale) as usize).max(1000);
        let client = ctx.client();
        let list = iteration::list_of(&client, n);
        let p = paired(reps, Unit::OpsPerSec, || iteration::iterate(&list, n), || iteration::snapshot(&list, n));
        eprintln!(
            "iter: {:.0} items/s through iter(), {:.0} through snapshot(): {:.0}% of the copy's rate",
            p.ours.median,
            p.floor.median,
            100.0 / p.ratio.median
        );
        let snap = p.floor.clone();
        rows.push(row(
            "iter",
            "iterate a 1M-item list, items/s (floor: snapshot())",
            Unit::OpsPerSec,
            p.ours.clone(),
            Some(p),
        ));
        rows.push(row("snapshot", "copy a 1M-item list by snapshot(), items/s", Unit::OpsPerSec, snap, None));
        let k = ((2000.0 * scale) as usize).max(20);
        let p = paired(reps, Unit::Micros, || iteration::first_item(&list, k), || iteration::one_call(&list, k));
        eprintln!(
            "iter: first item after {:.1} µs, {:.2} round trips of one call ({:.1} µs)",
            p.ours.median, p.ratio.median, p.floor.median
        );
        let name = "iter(): time to the first item (floor: one call, len())";
        rows.push(row("iterfirst", name, Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("bulk") {
        let p = paired(reps, Unit::MBps, || workloads::value_1mib(&ctx), bulk);
        rows.push(row("bulk", "1 MiB values set + get", Unit::MBps, p.ours.clone(), Some(p)));
    }
    if want("connect") {
        let p = paired(reps, Unit::Micros, || us(workloads::connect(&ctx)), conn);
        rows.push(row("connect", "connect + authenticate", Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("pipe64") {
        let p = paired(reps, Unit::OpsPerSec, || workloads::pipelined(&ctx, 64), pipe);
        rows.push(row("pipe64", "64 calls in flight on one connection", Unit::OpsPerSec, p.ours.clone(), Some(p)));
    }
    if want("watch") {
        // The floor is one call's round trip on the writer's connection, measured in
        // alternation with the changes: a change reaches a watcher in one trip out.
        let (mut notified, mut calls) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let (n, c) = watching::notify_latency(&ctx);
            notified.push(n);
            calls.push(c);
        }
        let ratio = spread(notified.iter().zip(&calls).map(|(n, c)| n / c).collect());
        let p = Paired { ours: spread(notified), floor: spread(calls), ratio, cpu: None, floor_cpu: None };
        let name = "change -> watcher notified (1 writer, 1 watcher); floor: one call";
        rows.push(row("watch", name, Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("watch10") {
        // Floor: the same writer with no watcher, in alternation.
        let p = paired(
            reps,
            Unit::OpsPerSec,
            || watching::writer_with_watchers(&ctx, 10),
            || watching::writer_with_watchers(&ctx, 0),
        );
        let name = "dict inserts/s with 10 watchers; floor: no watcher";
        rows.push(row("watch10", name, Unit::OpsPerSec, p.ours.clone(), Some(p)));
    }
    if want("session") {
        // A reconnecting client's call crosses a relay on each side (a socket pair and
        // a task each way); floor: the same call without a session, in alternation.
        let p = paired(reps, Unit::Micros, || sessions::one_call(&ctx, true), || sessions::one_call(&ctx, false));
        let name = "one call in a reconnecting session; floor: without";
        rows.push(row("session", name, Unit::Micros, p.ours.clone(), Some(p)));
    }
    if want("partition") {
        let r = if quick { 1 } else { reps.min(3) };
        let (mut total, mut waited, mut trips) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..r {
            let (t, w, n) = sessions::after_partition(&ctx);
            total.push(t);
            waited.push(w);
            trips.push(n);
        }
        let (t, w, n) = (spread(total), spread(waited), spread(trips));
        eprintln!(
            "partition: first call answered {:.1} ms after a 1 s partition healed: {:.1} ms waiting for the next \
             attempt (backoff), then {:.1} round trips of one call",
            t.median, w.median, n.median
        );
        let name = "first call after a 1 s partition heals, ms (backoff wait, then round trips: see log)";
        rows.push(row("partition", name, Unit::Millis, t, None));
    }
    if want("memconn") {
        // A fresh server: one that ran the workloads above keeps their freed memory and
        // hands it to new connections, so its RSS barely moves (it read 0 bytes per idle
        // connection in a run).
        let (mut mem_server, mem_address) = workloads::start_server(&addr("mem.sock"), &key, 0);
        let mem_ctx = Ctx { address: mem_address, key: key.clone(), options: ctx.options.clone(), scale };
        let (per_conn, per_obj, rate100) = workloads::memory_and_scale(&mem_ctx, mem_server.id());
        drop(mem_server.stdin.take());
        let _ = mem_server.wait();
        let single = Figure::single;
        rows.push(row("memconn", "server memory per idle connection", Unit::Bytes, single(per_conn), None));
        let name = "server memory per small object (100k counters)";
        rows.push(row("memobj", name, Unit::Bytes, single(per_obj), None));
        let name = "calls/s with 100 connections at once";
        rows.push(row("conn100", name, Unit::OpsPerSec, single(rate100), None));
    }
    if want("pool-map") || want("pool-apply-async") || want("pool-apply") {
        // Tiny tasks on a pool of one worker process per core (Python's in the same run:
        // `pool::python`). Counts as in Python's script at the same scale.
        let workers = pool::start(&ctx);
        let (n_map, n_async, n_apply) = if smoke {
            (1000, 100, 20)
        } else if quick {
            (25_000, 2_500, 500)
        } else {
            (100_000, 10_000, 2_000)
        };
        let name = format!("pool map, {n_map} squares, {} processes (tasks/s)", pool::processes());
        let f = median(reps, || pool::map(&workers, n_map));
        rows.push(row("pool-map", &name, Unit::OpsPerSec, f, None));
        let name = format!("pool apply_async, {n_async} squares (tasks/s)");
        let f = median(reps, || pool::apply_async(&workers, n_async));
        rows.push(row("pool-apply-async", &name, Unit::OpsPerSec, f, None));
        let p = paired(reps, Unit::Micros, || pool::apply(&workers, n_apply), round_trip);
        let direct = pool::direct(1_000_000);
        eprintln!(
            "pool-apply: {:.1} µs per task one at a time, {:.2} round trips; a direct call: {:.4} µs",
            p.ours.median, p.ratio.median, direct
        );
        rows.push(row("pool-apply", "pool apply, one task at a time", Unit::Micros, p.ours.clone(), Some(p)));
        drop(workers);
    }
    if transport == "unix" {
        for (id, name, unit, ours, floor) in shm::measure(&ctx, reps, &want) {
            rows.push(row(id, &name, unit, ours, floor));
        }
        for (id, name, unit, p) in rings::measure(&ctx, &server, reps, &want) {
            rows.push(row(id, name, unit, p.ours.clone(), Some(p)));
        }
    }
    if transport == "tcp" {
        for (id, name, unit, p) in tls::measure(&ctx, reps, &want) {
            rows.push(row(id, name, unit, p.ours.clone(), Some(p)));
        }
    }
    drop(server.stdin.take());
    let _ = server.wait();

    // Low-latency mode: both sides spin before sleeping. Only meaningful unpinned: two
    // spinning processes on one core only take turns a time slice at a time, so the busy
    // floor is not measured pinned either.
    if !pinned_here() {
        let (mut fast, fast_addr) = workloads::start_server(&addr("fast.sock"), &key, 50);
        let fast_ctx = Ctx {
            address: fast_addr,
            key: key.clone(),
            options: manager_client::ClientOptions { spin: Duration::from_micros(50), ..Default::default() },
            scale,
        };
        if want("dict-ll") {
            let ours = || on_server(workloads::dict_ops, &fast_ctx, &fast);
            let p = paired_cpu(reps, Unit::Micros, ours, busy_round_trip_cpu);
            rows.push(row("dict-ll", "dict insert + get, low-latency mode", Unit::Micros, p.ours.clone(), Some(p)));
        }
        if want("incr-ll") {
            let p =
                paired_cpu(reps, Unit::Micros, || on_server(workloads::incr, &fast_ctx, &fast), busy_round_trip_cpu);
            rows.push(row("incr-ll", "#[shared] incr(), low-latency mode", Unit::Micros, p.ours.clone(), Some(p)));
        }
        if transport == "unix" {
            for (id, name, unit, p) in rings::measure_low_latency(&fast_ctx, &fast, reps, &want, &busy_round_trip_cpu) {
                rows.push(row(id, name, unit, p.ours.clone(), Some(p)));
            }
        }
        drop(fast.stdin.take());
        let _ = fast.wait();
        // The adaptive poll (opt-in, both sides; issue 23): the default path with a poll
        // learned per connection, capped at 30 µs, paired with the blocking floor.
        let cap = std::path::Path::new("30");
        let (mut adaptive, adaptive_addr) =
            workloads::start_server_with(&addr("ap.sock"), &key, 0, &[("BENCH_ADAPTIVE_POLL_US", cap)]);
        let options = manager_client::ClientOptions { adaptive_poll: Duration::from_micros(30), ..Default::default() };
        let ap_ctx = Ctx { address: adaptive_addr, key: key.clone(), options, scale };
        if want("dict-ap") {
            let p =
                paired_cpu(reps, Unit::Micros, || on_server(workloads::dict_ops, &ap_ctx, &adaptive), round_trip_cpu);
            rows.push(row(
                "dict-ap",
                "dict insert + get, adaptive poll (opt-in)",
                Unit::Micros,
                p.ours.clone(),
                Some(p),
            ));
        }
        if want("incr-ap") {
            let p = paired_cpu(reps, Unit::Micros, || on_server(workloads::incr, &ap_ctx, &adaptive), round_trip_cpu);
            rows.push(row(
                "incr-ap",
                "#[shared] incr(), adaptive poll (opt-in)",
                Unit::Micros,
                p.ours.clone(),
                Some(p),
            ));
        }
        drop(adaptive.stdin.take());
        let _ = adaptive.wait();
        if want("cacheline") && transport == "unix" {
            // Two processes handing a cache line back and forth through shared memory,
            // both spinning: the floor under any transport (transport-independent, so
            // measured in the Unix phase only; never pinned, where it cannot work).
            let n = ((200_000.0 * scale) as usize).max(1000);
            let p = paired_cpu(reps, Unit::Micros, || pingpong::measure(n), busy_round_trip_cpu);
            let name = "cache-line ping-pong over shared memory, both sides spinning (a floor; floor: busy socket)";
            rows.push(row("cacheline", name, Unit::Micros, p.ours.clone(), Some(p)));
        }
    }
    for s in [&mut raw_server, &mut spin_server, &mut once_server, &mut tokio_server, &mut epoll_server] {
        let _ = s.kill();
        let _ = s.wait();
    }

    std::fs::write(out, serde_json::to_string(&rows).unwrap()).expect("write rows");
}

/// A workload of ours and its floor, measured in alternation.
struct Paired {
    ours: Figure,
    floor: Figure,
    /// Ours ÷ floor as a cost (>1: slower than the floor), one per repetition.
    ratio: Figure,
    /// CPU µs per call of ours and of the floor (client + server), where measured.
    cpu: Option<Figure>,
    floor_cpu: Option<Figure>,
}

/// Runs `ours` and `floor` `reps` times each, alternating which goes first, and pairs
/// each repetition of ours with the floor's next to it. The machine's state drifts over
/// a run (here the same ping-pong moved by ±30% between minutes); measured minutes
/// apart, a floor and a workload compare two different machines, where a pair measured
/// back to back compares like with like.
fn paired(reps: usize, unit: Unit, mut ours: impl FnMut() -> f64, mut floor: impl FnMut() -> f64) -> Paired {
    let mut p = paired_cpu(reps, unit, || (ours(), 0.0), || (floor(), 0.0));
    (p.cpu, p.floor_cpu) = (None, None);
    p
}

/// [`paired`] for workloads that also return their CPU µs per call (`cpu::with_cpu`).
fn paired_cpu(
    reps: usize,
    unit: Unit,
    mut ours: impl FnMut() -> (f64, f64),
    mut floor: impl FnMut() -> (f64, f64),
) -> Paired {
    let (mut o, mut f, mut r, mut oc, mut fc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..reps.max(1) {
        let ((a, ac), (b, bc)) = if i % 2 == 0 {
            let b = floor();
            (ours(), b)
        } else {
            let a = ours();
            (a, floor())
        };
        oc.push(ac);
        fc.push(bc);
        if a > 0.0 && b > 0.0 {
            r.push(if matches!(unit, Unit::Micros | Unit::Bytes | Unit::Millis) { a / b } else { b / a });
        }
        o.push(a);
        f.push(b);
    }
    Paired { ours: spread(o), floor: spread(f), ratio: spread(r), cpu: Some(spread(oc)), floor_cpu: Some(spread(fc)) }
}

/// Whether this process may run on only one core (the pinned phase).
fn pinned_here() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Cpus_allowed_list:")).map(|l| l.to_owned()))
        .is_some_and(|l| {
            let list = l.split(':').nth(1).unwrap_or("").trim().to_owned();
            !list.contains(',') && !list.contains('-')
        })
}

fn spawn_line(args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child =
        Command::new(std::env::current_exe().unwrap()).args(args).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    (child, line.trim().strip_prefix("LISTENING ").unwrap().to_owned())
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn per_op(d: Duration, n: usize) -> f64 {
    us(d) / n as f64
}

fn rate(d: Duration, n: usize) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Runs `f` `reps` times: the median, with min and max.
fn median(reps: usize, mut f: impl FnMut() -> f64) -> Figure {
    spread((0..reps.max(1)).map(|_| f()).collect())
}

/// The median of `v`, with its min and max (zeros for no values).
fn spread(mut v: Vec<f64>) -> Figure {
    v.sort_by(|a, b| a.total_cmp(b));
    match (v.first(), v.get(v.len() / 2), v.last()) {
        (Some(&min), Some(&median), Some(&max)) => Figure { median, min, max },
        _ => Figure::single(0.0),
    }
}
