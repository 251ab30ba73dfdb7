//! The benchmark runs once in CI at smoke scale (tiny counts, no comparisons), so it
//! never rots: every workload must produce a positive figure.
#![allow(clippy::unwrap_used)]

#[test]
fn manager_bench_runs_every_workload() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("figures.json");
    let svg = dir.path().join("chart.svg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_manager-bench"))
        .args([
            "--smoke",
            "--no-python",
            "--no-redis",
            "--json",
            json.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let figures: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = figures["unpinned"].as_array().unwrap();
    for transport in ["unix", "tcp"] {
        for id in [
            "dict",
            "dict2",
            "incr",
            "tokio",
            "epoll",
            "queue10k",
            "queue10kb",
            "lock",
            "drain",
            "bulk",
            "iter",
            "snapshot",
            "iterfirst",
            "watch",
            "watch10",
            "connect",
            "pipe64",
            "session",
            "partition",
            "memobj",
            "dict-ll",
            "incr-ll",
            "dict-ap",
            "incr-ap",
            "pool-map",
            "pool-apply-async",
            "pool-apply",
        ] {
            let row = rows
                .iter()
                .find(|r| r["id"] == id && r["transport"] == transport)
                .unwrap_or_else(|| panic!("{id} {transport}"));
            assert!(row["ours"]["median"].as_f64().unwrap() > 0.0, "{id} {transport}: {row}");
        }
    }
    // The one-call rows carry CPU per call (client + server) beside latency, for ours and
    // for the floor measured next to it.
    for id in ["dict", "incr", "tokio", "epoll", "dict-ll", "incr-ll", "dict-ap", "incr-ap"] {
        for r in rows.iter().filter(|r| r["id"] == id) {
            for field in ["cpu", "floor_cpu"] {
                assert!(r[field]["median"].as_f64().unwrap() > 0.0, "{id} {field}: {r}");
            }
        }
    }
    // The cache-line ping-pong floor runs once (Unix phase), unpinned, with its CPU cost.
    let row = rows.iter().find(|r| r["id"] == "cacheline" && r["transport"] == "unix").expect("cacheline");
    assert!(row["ours"]["median"].as_f64().unwrap() > 0.0 && row["cpu"]["median"].as_f64().unwrap() > 0.0, "{row}");
    // TLS runs over TCP only, beside its plain twin.
    for id in ["tls-incr", "tls-bulk", "tls-connect"] {
        let row = rows.iter().find(|r| r["id"] == id && r["transport"] == "tcp").unwrap_or_else(|| panic!("{id}"));
        assert!(
            row["ours"]["median"].as_f64().unwrap() > 0.0 && row["floor"]["median"].as_f64().unwrap() > 0.0,
            "{row}"
        );
    }
    // Shared memory runs once (Unix phase): its bytes never cross a socket.
    for id in ["shm-write", "shm-read", "shm-read-lazy", "shm-first", "shm-first-pop"] {
        let row = rows.iter().find(|r| r["id"] == id && r["transport"] == "unix").unwrap_or_else(|| panic!("{id}"));
        assert!(row["ours"]["median"].as_f64().unwrap() > 0.0, "{row}");
    }
    // The shared-memory transport: Unix phase only, beside the socket.
    for id in ["shm-dict", "shm-incr", "shm-pipe64", "shm-bulk", "shm-dict-ll", "shm-incr-ll"] {
        let row = rows.iter().find(|r| r["id"] == id && r["transport"] == "unix").unwrap_or_else(|| panic!("{id}"));
        assert!(
            row["ours"]["median"].as_f64().unwrap() > 0.0 && row["floor"]["median"].as_f64().unwrap() > 0.0,
            "{row}"
        );
    }
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}
