#!/usr/bin/env python3
"""Splits a soak's memory growth by where it is: resident memory and its anonymous, file-backed
and shared parts, threads and the tensor pool (rss.csv), and the managed heap (counters.csv, the
runtime's own counters, written by soak.sh where dotnet-counters is installed). For each series it
prints the level at 6 minutes, at the start of the last hour and at the end, and the slope of a
least-squares line over the last hour (the issue's measure) and from 6 minutes to the end.

    Tests/Soak/memory-split.py docs/soak/2h-2026-12-07

Standard library only, so it runs wherever the soak does.
"""
import csv
import datetime
import os
import sys

WARM_UP_S = 360


def slope_per_minute(points):
    """Least-squares slope of (seconds, value) points, per minute; None with fewer than two."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return 60 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def level_at(points, seconds):
    """The value of the first point at or after `seconds` (the last point when none is)."""
    return next((y for x, y in points if x >= seconds), points[-1][1])


def series_from_rss(path):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    series = {}
    for column, name, scale in (("rss_kib", "resident (MiB)", 1 / 1024), ("anon_kib", "  anonymous (MiB)", 1 / 1024),
                                ("file_kib", "  file-backed (MiB)", 1 / 1024), ("shmem_kib", "  shared, JIT code (MiB)", 1 / 1024),
                                ("threads", "threads", 1), ("pool_total_bytes", "tensor pool, all (MiB)", 1 / 2**20),
                                ("pool_used_bytes", "tensor pool, rented (MiB)", 1 / 2**20)):
        if rows and column in rows[0]:
            series[name] = [(float(row["seconds"]), float(row[column]) * scale) for row in rows]
    return series


def series_from_counters(path):
    """The managed heap's counters, timed from the first sample (the server's start, within the
    refresh interval)."""
    wanted = {
        "dotnet.gc.last_collection.memory.committed_size (By)": "managed heap committed (MiB)",
        "dotnet.gc.last_collection.heap.size (By)[gc.heap.generation=gen0]": "  gen0 after the last GC (MiB)",
        "dotnet.gc.last_collection.heap.size (By)[gc.heap.generation=gen1]": "  gen1 after the last GC (MiB)",
        "dotnet.gc.last_collection.heap.size (By)[gc.heap.generation=gen2]": "  gen2 after the last GC (MiB)",
        "dotnet.gc.last_collection.heap.size (By)[gc.heap.generation=loh]": "  large objects after the last GC (MiB)",
        "dotnet.gc.last_collection.heap.size (By)[gc.heap.generation=poh]": "  pinned heap after the last GC (MiB)",
        "dotnet.gc.last_collection.heap.fragmentation.size (By)[gc.heap.generation=poh]": "    of which free space (MiB)",
        "dotnet.gc.last_collection.heap.fragmentation.size (By)[gc.heap.generation=gen2]": "  gen2 fragmentation (MiB)",
        "dotnet.process.memory.working_set (By)": "working set, runtime's view (MiB)",
        "dotnet.thread_pool.thread.count ({thread})": "thread-pool threads",
    }
    series = {}
    start = None
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            name = wanted.get(row["Counter Name"])
            if name is None:
                continue
            when = datetime.datetime.strptime(row["Timestamp"], "%m/%d/%Y %H:%M:%S")
            start = start or when
            scale = 1 if name.startswith("thread") else 1 / 2**20
            series.setdefault(name, []).append(((when - start).total_seconds(), float(row["Mean/Increment"]) * scale))
    return {name: series[name] for name in wanted.values() if name in series}


def full_collections(path):
    """How many gen2 collections the counters saw (each row is the count in its interval)."""
    with open(path, newline="") as handle:
        return int(sum(float(row["Mean/Increment"]) for row in csv.DictReader(handle)
                       if row["Counter Name"].startswith("dotnet.gc.collections") and row["Counter Name"].endswith("[gc.heap.generation=gen2]")))


def main(directory):
    rss = os.path.join(directory, "rss.csv")
    series = series_from_rss(rss) if os.path.exists(rss) else {}  # a run stopped early has counters only
    counters = os.path.join(directory, "counters.csv")
    if os.path.exists(counters):
        series.update(series_from_counters(counters))
    if not series:
        sys.exit(f"{directory}: neither rss.csv nor counters.csv")
    if os.path.exists(counters):
        print(f"full (gen2) collections: {full_collections(counters)}")
    end = max(points[-1][0] for points in series.values())
    last_hour = max(WARM_UP_S, end - 3600)
    print(f"{'series':42} {'6 min':>9} {'hour start':>10} {'end':>9} {'slope last hour':>16} {'slope 6 min on':>15}")
    for name, points in series.items():
        hour = slope_per_minute([p for p in points if p[0] >= last_hour])
        whole = slope_per_minute([p for p in points if p[0] >= WARM_UP_S])
        text = lambda value: "-" if value is None else f"{value:+.3f}/min"
        print(f"{name:42} {level_at(points, WARM_UP_S):9.1f} {level_at(points, last_hour):10.1f} {points[-1][1]:9.1f} "
              f"{text(hour):>16} {text(whole):>15}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
