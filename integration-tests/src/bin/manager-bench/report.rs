//! Figures, the printed tables, the JSON file and the SVG chart of ratios.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What a figure measures; decides which way is better and how ratios read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Unit {
    /// Microseconds per operation (lower is better).
    Micros,
    /// Operations per second (higher is better).
    OpsPerSec,
    /// Megabytes per second (higher is better).
    MBps,
    /// Bytes (memory; lower is better).
    Bytes,
    /// Milliseconds (a recovery's time; lower is better).
    Millis,
}

impl Unit {
    pub fn label(self) -> &'static str {
        match self {
            Unit::Micros => "µs/op",
            Unit::OpsPerSec => "ops/s",
            Unit::MBps => "MB/s",
            Unit::Bytes => "bytes",
            Unit::Millis => "ms",
        }
    }

    fn lower_is_better(self) -> bool {
        matches!(self, Unit::Micros | Unit::Bytes | Unit::Millis)
    }
}

/// A median with its min and max.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Figure {
    pub fn single(v: f64) -> Figure {
        Figure { median: v, min: v, max: v }
    }
}

/// One workload on one transport.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub transport: String,
    pub unit: Unit,
    pub ours: Option<Figure>,
    /// The raw-socket floor for the same work, where one applies.
    pub floor: Option<Figure>,
    /// Ours ÷ the floor as a cost, per repetition: each repetition of ours is paired
    /// with a repetition of the floor measured right next to it, so that the machine's
    /// drift over a run (which moved the floor by ±30% here) cancels out.
    #[serde(default)]
    pub floor_ratio: Option<Figure>,
    pub python: Option<Figure>,
    pub redis: Option<Figure>,
    /// CPU µs per call, user + system, of the client and server processes together
    /// (`cpu.rs`): ours, the floor measured beside it, and Python's managers.
    #[serde(default)]
    pub cpu: Option<Figure>,
    #[serde(default)]
    pub floor_cpu: Option<Figure>,
    #[serde(default)]
    pub python_cpu: Option<Figure>,
}

impl Row {
    /// How many times the floor's cost ours is (>1: slower than the floor).
    pub fn vs_floor(&self) -> Option<f64> {
        match &self.floor_ratio {
            Some(r) => Some(r.median),
            None => ratio(self.unit, self.ours.as_ref()?, self.floor.as_ref()?),
        }
    }

    /// How many times faster than Python's managers ours is (>1: faster).
    pub fn speedup_vs_python(&self) -> Option<f64> {
        ratio(self.unit, self.python.as_ref()?, self.ours.as_ref()?)
    }

    /// How many times faster than Redis ours is.
    pub fn speedup_vs_redis(&self) -> Option<f64> {
        ratio(self.unit, self.redis.as_ref()?, self.ours.as_ref()?)
    }
}

/// `a` relative to `b` as a cost ratio: a/b for times, b/a for rates.
fn ratio(unit: Unit, a: &Figure, b: &Figure) -> Option<f64> {
    if a.median <= 0.0 || b.median <= 0.0 {
        return None;
    }
    Some(if unit.lower_is_better() { a.median / b.median } else { b.median / a.median })
}

fn fmt(f: &Option<Figure>, unit: Unit) -> String {
    let Some(f) = f else { return "–".into() };
    let one = |v: f64| match unit {
        Unit::Micros if v < 1.0 => format!("{v:.3}"),
        Unit::Micros | Unit::Millis => format!("{v:.1}"),
        Unit::OpsPerSec => format!("{:.0}k", v / 1e3),
        Unit::MBps => format!("{v:.0}"),
        Unit::Bytes => format!("{v:.0}"),
    };
    if (f.max - f.min).abs() < f64::EPSILON {
        one(f.median)
    } else {
        format!("{} ({}–{})", one(f.median), one(f.min), one(f.max))
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

/// The paired ratio with its range, where there is one.
fn fmt_floor_ratio(r: &Row) -> String {
    match &r.floor_ratio {
        Some(f) if (f.max - f.min).abs() >= f64::EPSILON => {
            format!("{:.2}× ({:.2}–{:.2})", f.median, f.min, f.max)
        }
        _ => fmt_ratio(r.vs_floor()),
    }
}

pub fn print_table(placement: &str, rows: &[Row]) {
    let mut out = String::new();
    let _ = writeln!(out, "\n## {placement}");
    let _ = writeln!(
        out,
        "| workload | transport | unit | this project | raw floor | × floor | Python managers | × faster than Python | Redis | × faster than Redis |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.transport,
            r.unit.label(),
            fmt(&r.ours, r.unit),
            fmt(&r.floor, r.unit),
            fmt_floor_ratio(r),
            fmt(&r.python, r.unit),
            fmt_ratio(r.speedup_vs_python()),
            fmt(&r.redis, r.unit),
            fmt_ratio(r.speedup_vs_redis()),
        );
    }
    print_cpu(&mut out, rows);
    print!("{out}");
}

/// The companion table of the one-call rows: CPU µs per call (client + server) beside
/// each latency, so a figure bought with a spinning core shows what it costs.
fn print_cpu(out: &mut String, rows: &[Row]) {
    let with_cpu: Vec<&Row> = rows.iter().filter(|r| r.cpu.is_some() || r.python_cpu.is_some()).collect();
    if with_cpu.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nCPU per call (user + system µs, client and server processes together):\n");
    let _ = writeln!(
        out,
        "| workload | transport | latency µs | CPU µs/call | floor latency | floor CPU µs/call | Python latency | Python CPU µs/call |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for r in with_cpu {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.transport,
            fmt(&r.ours, r.unit),
            fmt(&r.cpu, Unit::Micros),
            fmt(&r.floor, r.unit),
            fmt(&r.floor_cpu, Unit::Micros),
            fmt(&r.python, r.unit),
            fmt(&r.python_cpu, Unit::Micros),
        );
    }
}

pub fn to_json(all: &BTreeMap<String, Vec<Row>>) -> String {
    serde_json::to_string_pretty(all).unwrap_or_default()
}

/// A bar chart: for each workload with a floor, ours as a multiple of the raw floor's
/// cost (pinned and unpinned side by side); a line at 1× marks the floor.
pub fn svg(all: &BTreeMap<String, Vec<Row>>) -> String {
    let mut bars: Vec<(String, Vec<(String, f64)>)> = Vec::new();
    let placements: Vec<&String> = all.keys().collect();
    if let Some(first) = all.values().next() {
        for r in first.iter().filter(|r| r.floor.is_some()) {
            let label = format!("{} ({})", r.name, r.transport);
            let mut vals = Vec::new();
            for p in &placements {
                if let Some(v) =
                    all[*p].iter().find(|x| x.id == r.id && x.transport == r.transport).and_then(Row::vs_floor)
                {
                    vals.push(((*p).clone(), v));
                }
            }
            bars.push((label, vals));
        }
    }
    let max = bars.iter().flat_map(|(_, v)| v.iter().map(|(_, x)| *x)).fold(2.0f64, f64::max).min(20.0);
    let (left, width, row_h) = (330.0, 420.0, 34.0);
    let height = 70.0 + row_h * bars.len() as f64;
    let colors = ["#3b6ea8", "#e08a2c"];
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        left + width + 80.0
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Cost relative to the raw-socket floor (1× = raw; lower is better)</text>"#
    );
    for (i, p) in placements.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="30" width="12" height="12" fill="{}"/><text x="{}" y="41">{p}</text>"#,
            left + i as f64 * 120.0,
            colors[i % 2],
            left + 16.0 + i as f64 * 120.0
        );
    }
    let x_of = |v: f64| left + width * (v.min(max) / max);
    for (row, (label, vals)) in bars.iter().enumerate() {
        let y = 55.0 + row_h * row as f64;
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, left - 8.0, y + 17.0, escape(label));
        for (i, (_, v)) in vals.iter().enumerate() {
            let by = y + 4.0 + i as f64 * 13.0;
            let _ = writeln!(
                s,
                r#"<rect x="{left}" y="{by}" width="{:.1}" height="11" fill="{}"/>"#,
                x_of(*v) - left,
                colors[i % 2]
            );
            let _ = writeln!(s, r#"<text x="{:.1}" y="{}">{v:.2}×</text>"#, x_of(*v) + 4.0, by + 10.0);
        }
    }
    let one = x_of(1.0);
    let _ = writeln!(
        s,
        r#"<line x1="{one:.1}" y1="50" x2="{one:.1}" y2="{}" stroke="black" stroke-dasharray="4 3"/>"#,
        height - 10.0
    );
    let _ = writeln!(s, "</svg>");
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
