"""Python's multiprocessing.Pool doing manager-bench's pool workloads.

Run by `manager-bench` in the same run as its own pool rows (pinned with taskset in
the pinned phase); prints one JSON object: {workload id: {"median", "min", "max"}}:
tasks/s for `pool-map` (100,000 squares through map, default chunksize) and
`pool-apply-async` (10,000 through apply_async), µs per task for `pool-apply`.

    python3 pool_bench.py --processes N [--quick]
"""

import json
import multiprocessing
import statistics
import sys
import time


def square(x):
    return x * x


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main():
    args = sys.argv[1:]
    processes = int(args[args.index("--processes") + 1]) if "--processes" in args else None
    quick = "--quick" in args
    reps = 3 if quick else 5
    n_map = 25_000 if quick else 100_000
    n_async = 2_500 if quick else 10_000
    n_apply = 500 if quick else 2_000
    rates = {"pool-map": [], "pool-apply-async": [], "pool-apply": []}
    with multiprocessing.Pool(processes) as pool:
        pool.map(square, range(100))
        for _ in range(reps):
            t = time.perf_counter()
            out = pool.map(square, range(n_map))
            rates["pool-map"].append(n_map / (time.perf_counter() - t))
            assert len(out) == n_map
            t = time.perf_counter()
            results = [pool.apply_async(square, (i,)) for i in range(n_async)]
            for r in results:
                r.get()
            rates["pool-apply-async"].append(n_async / (time.perf_counter() - t))
            t = time.perf_counter()
            for i in range(n_apply):
                pool.apply(square, (i,))
            rates["pool-apply"].append((time.perf_counter() - t) * 1e6 / n_apply)
    print(json.dumps({k: spread(v) for k, v in rates.items()}))


if __name__ == "__main__":
    main()
