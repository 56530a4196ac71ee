#!/usr/bin/env python3
"""The summary of the per-request cost scripts (grpc-cost.sh, tls-cost.sh): reads their results
file (one "name requests_per_second server_us_per_request" line per run, the rounds in order),
prints each variant's medians, then for each NAME:BASE[:LABEL] pair the median of the rounds' own
ratios (a round's runs are back to back, so the machine's drift cancels within it).

    cost-summary.py RESULTS ROUNDS "where the client ran" NAME:BASE[:LABEL] ...
"""
import statistics
import sys


def main(results, rounds, setting, pairs):
    by = {}
    for line in open(results):
        name, rps, us = line.split()
        by.setdefault(name, []).append((float(rps), float(us)))
    width = max(len(name) for name in by)
    print(f"\nmedians over {rounds} rounds (server on one CPU, {setting}):")
    for name, runs in by.items():
        print(f"  {name:{width}} {statistics.median(r for r, _ in runs):9.0f} requests/s"
              f"  {statistics.median(u for _, u in runs):7.1f} µs server CPU per request")
    for pair in pairs:
        name, base, *label = pair.split(":", 2)
        runs = list(zip(by[name], by[base]))
        throughput = statistics.median(n[0] / b[0] for n, b in runs)
        per_cpu_second = statistics.median(b[1] / n[1] for n, b in runs)
        extra = statistics.median(n[1] - b[1] for n, b in runs)
        print(f"  {label[0] + ', ' if label else ''}{name} ÷ {base}: throughput {throughput:.2f}, "
              f"server requests per CPU-second {per_cpu_second:.2f}, extra server CPU per request {extra:+.1f} µs")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
