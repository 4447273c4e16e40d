#!/usr/bin/env python3
"""Prints one line per benchmark from Google Benchmark JSON files: name, wall and CPU time per
iteration, and the throughput (bytes/s or items/s, computed by Google Benchmark from CPU time).
Usage: bench/summary.py RESULT.json... (bench/run.sh calls it)."""
import json
import sys


def human_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def human_rate(value, unit):
    for prefix, scale in (("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}i{unit}"
    return f"{value:.3g} {unit}"


def to_ns(value, unit):
    return value * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def main(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        binary = path.rsplit("/", 1)[-1].removesuffix(".json")
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "mean":
                continue
            if b.get("error_occurred"):
                rows.append((binary, b["name"], "error", "", b.get("error_message", "")))
                continue
            unit = b.get("time_unit", "ns")
            rate = ""
            if "bytes_per_second" in b:
                rate = human_rate(b["bytes_per_second"], "B/s")
            elif "items_per_second" in b:
                rate = human_rate(b["items_per_second"], "/s")
            rows.append((binary, b["name"], human_time(to_ns(b["real_time"], unit)),
                         human_time(to_ns(b["cpu_time"], unit)), rate))
    name_width = max([len(r[1]) for r in rows] + [9])
    print(f"{'binary':<15} {'benchmark':<{name_width}} {'wall':>10} {'cpu':>10}  "
          "throughput (from CPU time; from wall time for */real_time)")
    for binary, name, wall, cpu, rate in rows:
        print(f"{binary:<15} {name:<{name_width}} {wall:>10} {cpu:>10}  {rate}")


if __name__ == "__main__":
    main(sys.argv[1:])
