#!/usr/bin/env python3
"""Where a 3-broker cluster's acks=all latency stalls come from: runs Gregor's 3-node cluster (the
cluster tests' harness), produces at a fixed rate with acks=all (gregor_loadgen, RF=3, 8
partitions) for ROUNDS rounds, and prints per round the producer's p50/p99/p99.9/max beside each
node's io-loop lag (gregor_io_loop_lag_seconds, the delta of the round): how many samples ran
later than 10 / 25 / 100 ms and the largest bucket reached. A stall with no loop lag on any node
waited on something other than an io thread (a replica's fetch, the disk writer).

usage: bench/experiments/cluster_loop_lag.py [--rounds 5] [--rate-mbps 10] [--duration-s 20]
       [--same-topic] [--set KEY=VALUE]...
       (GREGOR_BIN, default build/bin/gregor; the loadgen beside it)"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))


def lag_buckets(node) -> dict[float, float]:
    text = urllib.request.urlopen(f"http://{node.host}:{node.http_port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("gregor_io_loop_lag_seconds_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rate-mbps", type=float, default=10)
    ap.add_argument("--duration-s", type=float, default=20)
    ap.add_argument("--same-topic", action="store_true", help="every round produces to one topic (default: a new one each)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a broker setting, repeatable")
    args = ap.parse_args()
    gregor = Path(os.environ.get("GREGOR_BIN", REPO / "build" / "bin" / "gregor"))
    os.environ["GREGOR_BIN"] = str(gregor)
    loadgen = gregor.parent / "gregor_loadgen"
    import cluster_harness  # noqa: PLC0415 - after GREGOR_BIN is set

    with tempfile.TemporaryDirectory(prefix="loop-lag-") as base:
        cl = cluster_harness.cluster(Path(base), nodes=3, impl="gregor",
                                     extra_config=dict(kv.split("=", 1) for kv in args.set))
        try:
            cl.start()
            bootstrap = cl.brokers[0].bootstrap
            for r in range(args.rounds):
                topic = "lag-0" if args.same_topic else f"lag-{r}"
                common = ["--bootstrap", bootstrap, "--topic", topic, "--partitions", "8", "--replication-factor", "3",
                          "--acks", "all", "--record-size", "1024"]
                subprocess.run([str(loadgen), "produce", *common, "--count", "1000"], check=True,
                               capture_output=True, text=True)
                before = {n.node_id: lag_buckets(n) for n in cl.brokers}
                res = subprocess.run([str(loadgen), "produce", *common, "--rate-mbps", str(args.rate_mbps),
                                      "--duration-s", str(args.duration_s)], check=True, capture_output=True, text=True)
                after = {n.node_id: lag_buckets(n) for n in cl.brokers}
                p = json.loads(res.stdout.strip().splitlines()[-1])
                cells = []
                for nid in sorted(after):
                    d = {le: after[nid][le] - before[nid].get(le, 0) for le in after[nid]}
                    total = d[float("inf")]
                    over = lambda s: total - max((v for le, v in d.items() if le <= s), default=0)  # noqa: E731
                    top = min((le for le, v in d.items() if v >= total), default=float("inf"))
                    cells.append(f"n{nid}: >10ms {over(0.01):.0f} >25ms {over(0.025):.0f} >100ms {over(0.1):.0f} "
                                 f"max<= {top * 1000:.1f}ms of {total:.0f}")
                print(f"round {r}: p50 {p['latency_ms_p50']:.2f} p99 {p['latency_ms_p99']:.2f} "
                      f"p99.9 {p['latency_ms_p999']:.2f} max {p['latency_ms_max']:.2f} ms | " + " | ".join(cells),
                      flush=True)
        finally:
            cl.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
