//! Shared-memory transport rows (Unix phase only): the same workloads with
//! `ClientOptions::shared_memory` as over the Unix socket, each repetition paired with
//! its socket twin measured right next to it, so the ratio is what the rings change.
//! Then low-latency mode (both sides spinning) over the rings, paired with the busy
//! socket floor.

use std::process::Child;
use std::time::Duration;

use crate::report::Unit;
use crate::workloads::{self, Ctx};
use crate::{Paired, cpu, paired_cpu, us};

/// What the rows run, with the CPU per call of this process and `server` together
/// (µs per call rows; rates get no CPU figure).
fn run(id: &str, c: &Ctx, server: &Child) -> (f64, f64) {
    match id {
        "shm-dict" | "shm-dict-ll" => cpu::with_cpu(&[server.id()], || (us(workloads::dict_ops(c)), ())),
        "shm-incr" | "shm-incr-ll" => cpu::with_cpu(&[server.id()], || (us(workloads::incr(c)), ())),
        "shm-pipe64" => (workloads::pipelined(c, 64), 0.0),
        _ => (workloads::value_1mib(c), 0.0),
    }
}

/// The rows `want` asks for over shared memory, paired with the same workload of ours
/// over the Unix socket (`socket`, whose server serves both). Targets (issue 23): one
/// call unpinned ≤ 10 µs with no permanent spinning; 64 in flight and 1 MiB values
/// ≥ 2× the socket's.
pub fn measure(
    socket: &Ctx,
    server: &Child,
    reps: usize,
    want: &dyn Fn(&str) -> bool,
) -> Vec<(&'static str, &'static str, Unit, Paired)> {
    let rows = [
        ("shm-dict", "dict insert + get over shared memory; floor: ours over the socket", Unit::Micros),
        ("shm-incr", "#[shared] incr() over shared memory; floor: ours over the socket", Unit::Micros),
        ("shm-pipe64", "64 in flight over shared memory; floor: ours over the socket", Unit::OpsPerSec),
        ("shm-bulk", "1 MiB values over shared memory; floor: ours over the socket", Unit::MBps),
    ];
    let shm = Ctx {
        options: manager_client::ClientOptions { shared_memory: true, ..socket.options.clone() },
        ..socket.clone()
    };
    let mut out = Vec::new();
    for (id, name, unit) in rows {
        if want(id) {
            let mut p = paired_cpu(reps, unit, || run(id, &shm, server), || run(id, socket, server));
            if unit != Unit::Micros {
                (p.cpu, p.floor_cpu) = (None, None);
            }
            eprintln!(
                "{id}: {:.1} over shared memory, {:.1} over the socket ({})",
                p.ours.median,
                p.floor.median,
                unit.label()
            );
            out.push((id, name, unit, p));
        }
    }
    out
}

/// Low-latency mode over shared memory (`fast`: a server with `busy_poll`, clients
/// spinning), paired with `floor` (the busy-polling socket floor).
pub fn measure_low_latency(
    fast: &Ctx,
    server: &Child,
    reps: usize,
    want: &dyn Fn(&str) -> bool,
    floor: &dyn Fn() -> (f64, f64),
) -> Vec<(&'static str, &'static str, Unit, Paired)> {
    let rows = [
        ("shm-dict-ll", "dict insert + get, low-latency mode over shared memory; floor: busy socket", Unit::Micros),
        ("shm-incr-ll", "#[shared] incr(), low-latency mode over shared memory; floor: busy socket", Unit::Micros),
    ];
    let shm = Ctx {
        options: manager_client::ClientOptions {
            shared_memory: true,
            spin: Duration::from_micros(50),
            ..fast.options.clone()
        },
        ..fast.clone()
    };
    let mut out = Vec::new();
    for (id, name, unit) in rows {
        if want(id) {
            let p = paired_cpu(reps, unit, || run(id, &shm, server), floor);
            eprintln!("{id}: {:.2} µs over shared memory, {:.2} µs busy socket floor", p.ours.median, p.floor.median);
            out.push((id, name, unit, p));
        }
    }
    out
}
