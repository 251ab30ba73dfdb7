//! `manager-cli`'s tables for people: columns padded to their widest cell.

use manager_client::ServerStats;
use manager_client::inspect::{ConnectionReport, ObjectReport};
use std::fmt::Write;

/// Rows of cells, the first the header, as aligned text (the last column unpadded).
fn grid(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn join<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    if items.is_empty() { "-".to_owned() } else { items.iter().map(show).collect::<Vec<_>>().join(", ") }
}

/// `stats`: one figure a line.
pub(crate) fn stats(s: &ServerStats) -> String {
    let by_type = join(&s.objects_by_type, |(t, n)| format!("{t} {n}"));
    let rows = [
        ("objects", s.objects.to_string()),
        ("objects by type", by_type),
        ("named", s.named.to_string()),
        ("connections", s.connections.to_string()),
        ("requests", s.requests.to_string()),
        ("parked calls", s.parked_calls.to_string()),
        ("streams", s.streams.to_string()),
        ("leases", s.leases.to_string()),
        ("transfers undone", s.transfers_undone.to_string()),
        ("cycles collected", s.cycles_collected.to_string()),
    ];
    grid(&rows.map(|(k, v)| vec![k.to_owned(), v]))
}

/// `ls`: one object a line.
pub(crate) fn objects(objects: &[ObjectReport]) -> String {
    if objects.is_empty() {
        return "no objects\n".to_owned();
    }
    let header = ["ID", "TYPE", "REFS", "NAME", "VALUE"].map(str::to_owned).to_vec();
    let rows = objects.iter().map(|o| {
        vec![o.id.0.to_string(), o.type_id.clone(), o.refs.to_string(), join(&o.names, String::clone), o.repr.clone()]
    });
    grid(&std::iter::once(header).chain(rows).collect::<Vec<_>>())
}

/// `show`: one field a line.
pub(crate) fn object(o: &ObjectReport) -> String {
    let rows = [
        ("id", o.id.0.to_string()),
        ("type", o.type_id.clone()),
        ("refs", o.refs.to_string()),
        ("names", join(&o.names, String::clone)),
        ("holders", join(&o.holders, |h| format!("connection {} ({} refs)", h.connection, h.refs))),
        ("value", o.repr.clone()),
    ];
    grid(&rows.map(|(k, v)| vec![k.to_owned(), v]))
}

/// `conns`: one connection a line.
pub(crate) fn connections(conns: &[ConnectionReport]) -> String {
    let header = ["ID", "PEER", "AGE", "IN-FLIGHT", "PARKED", "STREAMS", "WATCHES", "LOCKS", "REFS"];
    let rows = conns.iter().map(|c| {
        vec![
            c.id.to_string(),
            if c.peer.is_empty() { "-".to_owned() } else { c.peer.clone() },
            format!("{:.1}s", c.age_ms as f64 / 1000.0),
            c.calls_in_flight.to_string(),
            c.parked_calls.to_string(),
            c.streams.to_string(),
            c.watches.to_string(),
            join(&c.locks_held, |id| id.0.to_string()),
            c.refs_held.iter().map(|r| r.refs).sum::<u64>().to_string(),
        ]
    });
    grid(&std::iter::once(header.map(str::to_owned).to_vec()).chain(rows).collect::<Vec<_>>())
}
