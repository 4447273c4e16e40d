"""Proves the native load generator (bin/gregor_loadgen, used by bench/compare) reports true figures:
the records and bytes it says it produced are exactly what an independent consumer reads back, per
partition, and its consume mode counts the same. Runs in the normal suite (a few seconds). The
`cluster` test does the same against a 3-node cluster with the topic bench-compare's 3-broker mode
creates (replication factor 3, acks=all)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

import clients
import cluster_harness
import harness


def loadgen_binary() -> Path | None:
    candidates = [os.environ.get("GREGOR_LOADGEN"),
                  harness.gregor_binary().parent / "gregor_loadgen",
                  harness.REPO_ROOT / "build" / "bin" / "gregor_loadgen"]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    return None


@pytest.fixture(scope="module")
def loadgen():
    path = loadgen_binary()
    if path is None:
        pytest.skip("gregor_loadgen not built (needs GREGOR_BUILD_BENCH=ON and librdkafka-dev)")
    return path


def run_loadgen(loadgen: Path, *args: str, timeout_s: float = 120) -> tuple[int, dict]:
    res = subprocess.run([str(loadgen), *args], capture_output=True, text=True, timeout=timeout_s)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON from gregor_loadgen {args[0]} (exit {res.returncode}): {res.stderr[-2000:]}"
    return res.returncode, json.loads(lines[-1])


def test_loadgen_produce_and_consume_counts_match_an_independent_consumer(bootstrap, loadgen):
    topic = harness.unique_topic("loadgen")
    code, produced = run_loadgen(loadgen, "produce", "--bootstrap", bootstrap, "--topic", topic,
                                 "--partitions", "3", "--record-size", "1000", "--acks", "all",
                                 "--duration-s", "2", "--rate-mbps", "3", "--linger-ms", "2")
    assert code == 0, produced
    n = produced["delivered"]
    assert produced["failed"] == 0 and produced["sent"] == n
    assert n > 1000  # 3 MB/s for 2 s is ~6000 records of 1000 B
    assert produced["bytes"] == n * 1000
    assert produced["partitions"] == 3
    assert sum(produced["per_partition"].values()) == n
    assert produced["latency_ms_p50"] <= produced["latency_ms_p99"] <= produced["latency_ms_p999"]

    got = clients.consume_all(bootstrap, topic, partitions=3, expected=n, timeout_s=60)
    assert len(got) == n
    assert all(len(m.value()) == 1000 and m.key() is None for m in got)
    per_partition = {str(p): sum(1 for m in got if m.partition() == p) for p in range(3)}
    assert per_partition == {str(p): produced["per_partition"].get(str(p), 0) for p in range(3)}

    code, consumed = run_loadgen(loadgen, "consume", "--bootstrap", bootstrap, "--topic", topic,
                                 "--timeout-s", "60")
    assert code == 0, consumed
    assert consumed["expected"] == n
    assert consumed["records"] == n
    assert consumed["bytes"] == n * 1000
    assert consumed["errors"] == 0


def test_loadgen_count_mode_at_full_speed_writes_exactly_count_records(bootstrap, loadgen):
    topic = harness.unique_topic("loadgen-count")
    code, produced = run_loadgen(loadgen, "produce", "--bootstrap", bootstrap, "--topic", topic,
                                 "--partitions", "1", "--record-size", "512", "--acks", "1",
                                 "--count", "20000")
    assert code == 0, produced
    assert produced["delivered"] == 20000
    assert produced["bytes"] == 20000 * 512
    c = clients.consumer(bootstrap)
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()
    assert (low, high) == (0, 20000)


@pytest.mark.cluster
def test_loadgen_replicates_to_every_node_of_a_three_node_cluster(cluster, loadgen):
    boot = cluster.bootstrap()
    topic = harness.unique_topic("loadgen-rf3")
    code, produced = run_loadgen(loadgen, "produce", "--bootstrap", boot, "--topic", topic,
                                 "--partitions", "3", "--replication-factor", "3", "--record-size", "1000",
                                 "--acks", "all", "--count", "5000")
    assert code == 0, produced
    assert produced["delivered"] == 5000 and produced["failed"] == 0
    assert produced["bytes"] == 5000 * 1000

    # Created with three replicas on distinct nodes, every one in sync (the acks=all writes needed them).
    def in_sync():
        md = cluster_harness.metadata(cluster.brokers[0].bootstrap, topics=[topic])
        parts = md.topics[topic].partitions
        return len(parts) == 3 and all(sorted(p.replicas) == [1, 2, 3] and sorted(p.isr) == [1, 2, 3]
                                       for p in parts)
    harness.wait_until(in_sync, timeout_s=30, what=f"{topic}: 3 partitions with replicas and ISR 1,2,3")

    got = clients.consume_all(boot, topic, partitions=3, expected=5000, timeout_s=60)
    assert len(got) == 5000
    per_partition = {str(p): sum(1 for m in got if m.partition() == p) for p in range(3)}
    assert per_partition == {str(p): produced["per_partition"].get(str(p), 0) for p in range(3)}
    code, consumed = run_loadgen(loadgen, "consume", "--bootstrap", boot, "--topic", topic, "--timeout-s", "60")
    assert code == 0, consumed
    assert consumed["records"] == 5000 and consumed["errors"] == 0


def test_loadgen_refuses_unknown_options_and_bad_values(loadgen):
    bad = subprocess.run([str(loadgen), "produce", "--topic", "t", "--no-such-option", "1"],
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "unknown option --no-such-option" in bad.stderr
    bad = subprocess.run([str(loadgen), "produce", "--topic", "t", "--acks", "2"],
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "--acks" in bad.stderr
    bad = subprocess.run([str(loadgen), "create", "--topic", "t", "--partitions", "1", "--replication-factor", "0"],
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "--replication-factor" in bad.stderr
    # -X passes a librdkafka setting through; librdkafka's own refusal names it.
    bad = subprocess.run([str(loadgen), "produce", "--topic", "t", "-X", "nodelay"],
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "-X takes name=value" in bad.stderr
    bad = subprocess.run([str(loadgen), "produce", "--bootstrap", "127.0.0.1:1", "--topic", "t",
                          "-X", "no.such.setting=1"], capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "no.such.setting" in bad.stderr
