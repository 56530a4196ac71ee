#!/usr/bin/env python3
"""Plots a soak's rss.csv (seconds, rss_kib) as an SVG line chart of resident memory in MiB.

    Tests/Soak/plot-rss.py docs/soak/rss.csv docs/soak/rss.svg "30-minute soak, 2026-11-26"

Standard library only, so it runs wherever the soak does.
"""
import csv
import sys

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 300, 60, 740, 20, 260


def main(source: str, target: str, title: str) -> None:
    with open(source, newline="") as handle:
        rows = [(float(row["seconds"]), int(row["rss_kib"]) / 1024) for row in csv.DictReader(handle)]
    if not rows:
        sys.exit(f"{source}: no samples")
    last_second = max(seconds for seconds, _ in rows) or 1
    top_mib = max(50, (int(max(mib for _, mib in rows)) // 50 + 1) * 50)

    def x(seconds: float) -> float:
        return LEFT + (RIGHT - LEFT) * seconds / last_second

    def y(mib: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * mib / top_mib

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="14" text-anchor="middle">fabrik resident memory, {title}</text>',
        f'<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="black"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{BOTTOM}" stroke="black"/>',
    ]
    for mib in range(0, top_mib + 1, 50):
        parts.append(f'<text x="{LEFT - 5}" y="{y(mib) + 4:.1f}" text-anchor="end">{mib}</text>'
                     f'<line x1="{LEFT}" y1="{y(mib):.1f}" x2="{RIGHT}" y2="{y(mib):.1f}" stroke="#ddd"/>')
    minutes = int(last_second // 60)
    step = max(1, minutes // 6)
    for minute in range(0, minutes + 1, step):
        parts.append(f'<text x="{x(minute * 60):.1f}" y="{BOTTOM + 14}" text-anchor="middle">{minute}</text>')
    parts.append(f'<text x="{(LEFT + RIGHT) / 2}" y="{HEIGHT - 8}" text-anchor="middle">minutes</text>')
    parts.append(f'<text x="14" y="{(TOP + BOTTOM) / 2}" text-anchor="middle" transform="rotate(-90 14 {(TOP + BOTTOM) / 2})">MiB</text>')
    points = " ".join(f"{x(seconds):.1f},{y(mib):.1f}" for seconds, mib in rows)
    parts.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.2" points="{points}"/>')
    parts.append("</svg>")
    with open(target, "w") as handle:
        handle.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])
