#!/usr/bin/env python3
"""The summary of the load generator A/B scripts (client-cost.sh, shm-cost.sh): reads their
results file (one "name load inferences_per_second p50_us p99_us" line per run, the rounds in
order), prints each variant's medians at each load, then for each NAME:BASE[:LABEL] pair the
median over the rounds of each round's own ratios (a round's runs are back to back, so the
machine's drift cancels within it). A throughput ratio above 1 and latency ratios below 1 favour
NAME.

    load-summary.py RESULTS ROUNDS NAME:BASE[:LABEL] ...
"""
import statistics
import sys


def main(results, rounds, pairs):
    by = {}
    for line in open(results):
        name, load, rps, p50, p99 = line.split()
        by.setdefault((name, int(load)), []).append((float(rps), float(p50), float(p99)))
    width = max(len(name) for name, _ in by)
    print(f"\nmedians over {rounds} rounds:")
    for (name, load), runs in sorted(by.items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"  {name:{width}} c{load:<3} {statistics.median(r[0] for r in runs):9.1f} infer/s"
              f"  p50 {statistics.median(r[1] for r in runs):8.0f} µs  p99 {statistics.median(r[2] for r in runs):8.0f} µs")
    for pair in pairs:
        name, base, *label = pair.split(":", 2)
        for load in sorted({load for n, load in by if n == name}):
            runs = list(zip(by[(name, load)], by.get((base, load), [])))
            if not runs:
                continue
            ratio = [statistics.median(n[i] / b[i] for n, b in runs) for i in range(3)]
            print(f"  {label[0] + ', ' if label else ''}{name} ÷ {base} at c{load}: "
                  f"throughput {ratio[0]:.3f}, p50 {ratio[1]:.3f}, p99 {ratio[2]:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
