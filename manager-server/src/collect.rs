//! The cycle collector: frees containers that only keep each other alive
//! (`a["b"] = b; b["a"] = a`, then both proxies dropped), by CPython's trial deletion
//! over the object table.
//!
//! Each object reports the references its stored elements hold
//! (`ServerObject::references`). An object whose count exceeds the references other
//! objects report is held from outside — by a connection, a name, an unacknowledged
//! transfer, anything unreported — and is a root; everything reachable from a root
//! survives. The rest is garbage, and leaves the table: dropping it drops its elements,
//! which release what they hold.
//!
//! Nothing is locked across objects: the table is snapshotted (ids, counts, and the
//! stamp of each count's last change), then each object is asked for its references
//! under its own lock alone, then, under the table's lock, every garbage object whose
//! count moved since the snapshot is kept, with all it references. An unmoved count
//! means its holders did not change while we looked (every hold and release moves it),
//! so the holders we saw are all it has, and they are garbage too: the set is closed,
//! and nothing outside it can reach it again.

use manager_proto::ObjectId;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::object::Table;
use crate::state::Shared;

/// Runs one collection on `shared`'s table; returns how many objects it freed.
pub(crate) fn collect(shared: &Shared) -> u64 {
    let freed = collect_table(&shared.table);
    if freed > 0 {
        shared.stats.collected.fetch_add(freed, Ordering::Relaxed);
        shared.table.freed.notify_one();
        tracing::debug!(freed, "cycle collector freed objects");
    }
    freed
}

/// Trial deletion over `table` (see the module's documentation).
fn collect_table(table: &Table) -> u64 {
    let seen = table.snapshot();
    let index: HashMap<ObjectId, usize> = seen.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    // For each object, the objects (by index) it references; for each, how many
    // references other objects hold to it.
    let mut edges: Vec<Vec<usize>> = Vec::with_capacity(seen.len());
    let mut internal = vec![0u64; seen.len()];
    let mut ids = Vec::new();
    for s in &seen {
        ids.clear();
        s.object.references(&mut ids);
        let targets: Vec<usize> = ids.iter().filter_map(|id| index.get(id).copied()).collect();
        for &t in &targets {
            if let Some(n) = internal.get_mut(t) {
                *n = n.saturating_add(1);
            }
        }
        edges.push(targets);
    }
    let roots = seen.iter().zip(&internal).enumerate().filter(|(_, (s, n))| s.refs > **n).map(|(i, _)| i);
    let reachable = mark(roots.collect(), &edges, vec![false; seen.len()]);
    let garbage: Vec<usize> = reachable.iter().enumerate().filter(|(_, r)| !**r).map(|(i, _)| i).collect();
    if garbage.is_empty() {
        return 0;
    }
    let removed = table.remove_chosen(|stamp_now| {
        // Counts that moved while we looked: those objects, and all they reach, stay.
        let moved: Vec<usize> =
            garbage.iter().copied().filter(|&i| seen.get(i).is_none_or(|s| stamp_now(s.id) != Some(s.stamp))).collect();
        let kept = mark(moved, &edges, reachable.clone());
        garbage
            .iter()
            .filter(|&&i| !kept.get(i).copied().unwrap_or(true))
            .filter_map(|&i| seen.get(i))
            .map(|s| s.id)
            .collect()
    });
    let freed = removed.len() as u64;
    // Dropped here, outside the table's lock: their elements release what they hold.
    drop(removed);
    drop(seen);
    freed
}

/// Marks everything reachable from `from` along `edges`, on top of `marked`.
fn mark(mut from: Vec<usize>, edges: &[Vec<usize>], mut marked: Vec<bool>) -> Vec<bool> {
    for &i in &from {
        if let Some(m) = marked.get_mut(i) {
            *m = true;
        }
    }
    while let Some(i) = from.pop() {
        for &j in edges.get(i).map(Vec::as_slice).unwrap_or_default() {
            if let Some(m) = marked.get_mut(j)
                && !*m
            {
                *m = true;
                from.push(j);
            }
        }
    }
    marked
}

/// Collects every `every`, when references were released since the last run (only a
/// release can make a cycle garbage): an idle server does no work. Until shutdown.
pub(crate) async fn collector(shared: Arc<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = shared.table.releases.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = shared.table.releases.load(Ordering::Relaxed);
        if now != last {
            collect(&shared);
            // What the collection itself released does not call for another run.
            last = shared.table.releases.load(Ordering::Relaxed);
        }
    }
}
