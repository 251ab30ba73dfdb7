"""Python's multiprocessing.managers doing the manager-bench workloads.

Run by `manager-bench` (which pins it with taskset in the pinned phase); prints one
JSON object: {workload id: {"median", "min", "max"}} in the units manager-bench uses
(µs per operation, operations per second, MB/s); "<id>-cpu" beside a one-call row is
the CPU µs per call of this process and the manager's together.

    python3 managers_bench.py --transport unix|tcp [--quick]
"""

import json
import multiprocessing
import os
import pickle
import statistics
import sys
import tempfile
import time
from multiprocessing.managers import SyncManager

AUTHKEY = b"bench-key"


class Counter:
    def __init__(self, start=0):
        self.n = start

    def incr(self, by):
        self.n += by
        return self.n


class Manager(SyncManager):
    pass


Manager.register("Counter", Counter)


def address(transport, tmp):
    if transport == "unix":
        return os.path.join(tmp, "py.sock")
    return ("127.0.0.1", 0)


def figure(values):
    values = sorted(values)
    return {"median": statistics.median(values), "min": values[0], "max": values[-1]}


def timed(reps, f):
    return figure([f() for _ in range(reps)])


def threads_ns(pid):
    """Nanoseconds each live thread of another process has run on a CPU (schedstat)."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                out[task] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def timed_cpu(reps, f, server_pid):
    """Like `timed` (f returns µs per call), with the CPU µs per call of this process and
    the manager's together, as manager-bench's cpu.rs measures them (a manager thread
    that exits meanwhile takes its time with it; one that starts counts from zero)."""
    lat, cpu = [], []
    for _ in range(reps):
        self_before, before = time.process_time_ns(), threads_ns(server_pid)
        start = time.perf_counter_ns()
        per_call = f()
        wall = time.perf_counter_ns() - start
        self_after, after = time.process_time_ns(), threads_ns(server_pid)
        used = self_after - self_before + sum(max(0, ns - before.get(t, 0)) for t, ns in after.items())
        lat.append(per_call)
        cpu.append(per_call * used / wall if wall > 0 else 0.0)
    return figure(lat), figure(cpu)


def dict_ops(m, n):
    d = m.dict()
    start = time.perf_counter()
    for i in range(n):
        d[i] = i
    for i in range(n):
        d[i]
    return (time.perf_counter() - start) / (2 * n) * 1e6


def dict_client(addr, n, barrier, done):
    m = Manager(address=addr, authkey=AUTHKEY)
    m.connect()
    d = m.dict()
    barrier.wait()
    for i in range(n):
        d[i] = i
    for i in range(n):
        d[i]
    done.release()


def dict_two(m, n):
    barrier = m.Barrier(3)
    done = m.Semaphore(0)
    procs = [multiprocessing.Process(target=dict_client, args=(m.address, n, barrier, done)) for _ in range(2)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    done.acquire()
    done.acquire()
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return 4 * n / elapsed


def incr(m, n):
    c = m.Counter(0)
    start = time.perf_counter()
    for _ in range(n):
        c.incr(1)
    return (time.perf_counter() - start) / n * 1e6


def producer(q, n, barrier):
    barrier.wait()
    for i in range(n):
        q.put(i)
    q.put(None)


def consumer(q, barrier, done):
    barrier.wait()
    while q.get() is not None:
        pass
    done.set()


def queue(m, n):
    q = m.Queue()
    barrier = m.Barrier(3)
    done = m.Event()
    procs = [
        multiprocessing.Process(target=consumer, args=(q, barrier, done)),
        multiprocessing.Process(target=producer, args=(q, n, barrier)),
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    done.wait()
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return n / elapsed


def handoff(m, n):
    # A proxy handed to another process: pickled, unpickled (which increfs, on a
    # connection of its own) and dropped (which decrefs, on another). Unpickled here, in
    # the same process, with the authkey a child of this manager would inherit.
    multiprocessing.current_process().authkey = AUTHKEY
    d = m.dict()
    start = time.perf_counter()
    for _ in range(n):
        p = pickle.loads(pickle.dumps(d))
        del p
    return (time.perf_counter() - start) / n * 1e6


def watch(m, n):
    # The seeds' polling watcher: the writer changes the dict and sets an Event; the
    # watcher (a thread, on its own connection as Python gives each thread) waits on it,
    # clears it and re-reads the whole dict. Measured: from the start of a write to the
    # watcher holding the new dict. At most 100 keys, as in manager-bench's row.
    import queue as local_queue
    import threading

    d, updated = m.dict(), m.Event()
    seen = local_queue.Queue()

    def watcher():
        for _ in range(n):
            updated.wait()
            updated.clear()
            d.copy()
            seen.put(time.perf_counter())

    t = threading.Thread(target=watcher)
    t.start()
    total = 0.0
    for i in range(n):
        start = time.perf_counter()
        d[i % 100] = i
        updated.set()
        total += seen.get() - start
    t.join()
    return total / n * 1e6


def lock_pairs(m, n):
    lock = m.Lock()
    start = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    return (time.perf_counter() - start) / n * 1e6


def bulk(m, n):
    payload = b"\x07" * (1 << 20)
    v = m.Value("c", payload)
    start = time.perf_counter()
    for _ in range(n):
        v.set(payload)
        assert len(v.get()) == 1 << 20
    return 2 * n * (1 << 20) / 1e6 / (time.perf_counter() - start)


def connect(m, n):
    start = time.perf_counter()
    for _ in range(n):
        c = Manager(address=m.address, authkey=AUTHKEY)
        c.connect()
    return (time.perf_counter() - start) / n * 1e6


def iterate(lp, k):
    """Items/s of `for x in list_proxy`: ListProxy does not expose `__iter__`, so Python
    iterates through `__getitem__` (one round trip per item, until IndexError). Timed
    over the first `k` items of the large list: each item costs the same, wherever it is
    (all 1M would take a minute per repetition)."""
    start = time.perf_counter()
    for i, x in enumerate(lp):
        assert x == i
        if i + 1 == k:
            break
    return k / (time.perf_counter() - start)


def snapshot(lp, n):
    """Items/s of `list_proxy[:]`: one call returning a copy (our `snapshot()`)."""
    start = time.perf_counter()
    items = lp[:]
    elapsed = time.perf_counter() - start
    assert len(items) == n
    return n / elapsed


def first_item(lp, k):
    """µs to the first item of a fresh `iter(list_proxy)`: one `__getitem__` call."""
    start = time.perf_counter()
    for _ in range(k):
        assert next(iter(lp)) == 0
    return (time.perf_counter() - start) / k * 1e6


def main():
    transport = sys.argv[sys.argv.index("--transport") + 1]
    quick = "--quick" in sys.argv
    scale = 0.25 if quick else 1.0
    reps = 3 if quick else 5
    n = lambda full: max(10, int(full * scale))
    with tempfile.TemporaryDirectory() as tmp:
        m = Manager(address=address(transport, tmp), authkey=AUTHKEY)
        m.start()
        server = m._process.pid
        out = {}
        out["dict"], out["dict-cpu"] = timed_cpu(reps, lambda: dict_ops(m, n(20000)), server)
        out["incr"], out["incr-cpu"] = timed_cpu(reps, lambda: incr(m, n(20000)), server)
        out |= {
            "dict2": timed(reps, lambda: dict_two(m, n(20000))),
            "lock": timed(reps, lambda: lock_pairs(m, n(10000))),
            "bulk": timed(reps, lambda: bulk(m, max(10, n(200)))),
            "connect": timed(reps, lambda: connect(m, max(20, n(200)))),
            "handoff": timed(reps, lambda: handoff(m, max(20, n(200)))),
            "watch": timed(reps, lambda: watch(m, n(5000))),
        }
        big = n(1000000)
        lp = m.list(range(big))
        out["iter"] = timed(reps, lambda: iterate(lp, min(big, n(20000))))
        out["snapshot"] = timed(reps, lambda: snapshot(lp, big))
        out["iterfirst"] = timed(reps, lambda: first_item(lp, n(2000)))
        del lp
        q10 = timed(reps, lambda: queue(m, n(10000)))
        q100 = timed(1 if quick else 3, lambda: queue(m, n(100000)))
        # Python has no batched put: its classic loop is the comparison for both rows.
        out["queue10k"] = out["queue10kb"] = q10
        out["queue100k"] = out["queue100kb"] = q100
        m.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
