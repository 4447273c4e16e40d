"""Reassignment throttles enforced as Kafka enforces them: `kafka-reassign-partitions --execute
--throttle N` sets leader/follower.replication.throttled.rate on the brokers involved and
leader/follower.replication.throttled.replicas on the topic; the new replica then catches up at
about N bytes/s (well below an unthrottled move of the same data), and finishes once the rates are
removed; `--verify` clears the throttles when the move is complete.

The follower's progress is measured as the bytes of its partition directory's segment files.
replica.fetch.max.bytes is 100 kB so one fetch is small against the quota (Kafka's quota lets a
fetch through while the rate over ~10 s is below the bound, then holds back until it is).

Runs unless GREGOR_CLUSTER_TESTS=0; GREGOR_CLUSTER_IMPL=kafka runs the same against Kafka 4.3.1.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

import cluster_harness as ch
import harness
from test_cluster_reassign import REASSIGN_COMMAND, create_assigned, full_isr, wait_described

pytestmark = [pytest.mark.cluster]

CONFIG_COMMAND = "kafka.admin.ConfigCommand"  # what kafka-configs.sh runs
THROTTLE = 100_000  # bytes/s
RECORD = 10_000
RECORDS = 500  # about 5 MB per topic


def fill(bootstrap: str, topic: str) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                  "batch.size": 200_000, "compression.type": "none"})
    errors: list[str] = []
    for i in range(RECORDS):
        while True:
            try:
                p.produce(topic, value=(b"%08d" % i) * (RECORD // 8), partition=0,
                          on_delivery=lambda err, msg: errors.append(str(err)) if err else None)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    assert p.flush(60) == 0
    assert not errors, errors[:3]


def segment_bytes(d: Path) -> int:
    try:
        return sum(f.stat().st_size for f in d.glob("*.log"))
    except FileNotFoundError:  # a segment rolled or deleted between the listing and the stat
        return 0


def plan_file(tmp_path: Path, topic: str, replicas: list[int]) -> Path:
    plan = tmp_path / f"{topic}.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": replicas, "log_dirs": ["any"] * len(replicas)}]}))
    return plan


def reassign(cl, classpath: str, plan: Path, *extra: str) -> str:
    return harness.ok(harness.run_java_tool(classpath, REASSIGN_COMMAND, "--bootstrap-server", cl.bootstrap(),
                                            "--reassignment-json-file", str(plan), *extra))


@pytest.mark.timeout(900)
def test_reassignment_throttle_slows_the_new_replica_until_the_throttle_is_removed(cluster_factory, kafka_classpath,
                                                                                  tmp_path):
    cl = cluster_factory(nodes=4, extra_config={"replica.fetch.max.bytes": "102400"})
    cl.start()
    for topic in ("free-move", "throttled-move"):
        create_assigned(cl, kafka_classpath, topic, "1:2")
        wait_described(cl, kafka_classpath, topic, lambda p: p[0]["leader"] == 1 and full_isr(p), f"{topic} in sync")
        fill(cl.bootstrap(), topic)
    total = segment_bytes(cl.nodes[1].log_dir / "throttled-move-0")
    assert total >= RECORDS * RECORD, total

    # Unthrottled, the same amount moves to broker 4 at once.
    free_dir = cl.nodes[4].log_dir / "free-move-0"
    free_total = segment_bytes(cl.nodes[1].log_dir / "free-move-0")
    free_plan = plan_file(tmp_path, "free-move", [1, 2, 4])
    start = time.monotonic()
    reassign(cl, kafka_classpath, free_plan, "--execute")
    ch.wait_for(lambda: segment_bytes(free_dir) >= free_total, 120, "the unthrottled copy", interval_s=0.05)
    free_rate = free_total / (time.monotonic() - start)
    print(f"unthrottled: {free_total} bytes at {free_rate / 1000:.0f} kB/s (tool start-up included)")

    # Throttled at 100 kB/s: after the first ~10 s worth, about 100 kB/s.
    plan = plan_file(tmp_path, "throttled-move", [1, 2, 4])
    out = reassign(cl, kafka_classpath, plan, "--execute", "--throttle", str(THROTTLE))
    assert f"The inter-broker throttle limit was set to {THROTTLE} B/s" in out, out
    moving = cl.nodes[4].log_dir / "throttled-move-0"
    ch.wait_for(lambda: segment_bytes(moving) > 0, 60, "the new replica's first bytes", interval_s=0.05)
    t0, b0 = time.monotonic(), segment_bytes(moving)
    window_s = 20.0
    time.sleep(window_s)  # the measuring window itself, not a stand-in for a condition
    t1, b1 = time.monotonic(), segment_bytes(moving)
    rate = (b1 - b0) / (t1 - t0)
    print(f"throttled at {THROTTLE / 1000:.0f} kB/s: {b1 - b0} bytes in {t1 - t0:.1f} s = {rate / 1000:.0f} kB/s "
          f"({b1} of {total} copied)")
    assert b1 < total, f"a {total}-byte copy throttled at {THROTTLE} B/s finished within {t1 - t0:.0f} s"
    assert rate < 5 * THROTTLE, f"throttled copy ran at {rate:.0f} B/s"
    assert rate > THROTTLE / 5, f"throttled copy stalled at {rate:.0f} B/s"
    assert rate * 3 < free_rate, f"throttled {rate:.0f} B/s vs unthrottled {free_rate:.0f} B/s"
    text = reassign(cl, kafka_classpath, plan, "--verify", "--preserve-throttles")
    assert re.search(r"Reassignment of partition throttled-move-0 is still in progress", text), text

    # Removing the rates (kafka-configs --delete-config on each broker the tool set them on) lets it finish.
    for broker in (1, 2, 4):
        harness.ok(harness.run_java_tool(kafka_classpath, CONFIG_COMMAND, "--bootstrap-server", cl.bootstrap(),
                                         "--alter", "--entity-type", "brokers", "--entity-name", str(broker),
                                         "--delete-config",
                                         "leader.replication.throttled.rate,follower.replication.throttled.rate"))
    removed = time.monotonic()
    ch.wait_for(lambda: segment_bytes(moving) >= total, 60, "the copy to finish without the throttle", interval_s=0.1)
    print(f"after removing the throttle the rest ({total - b1} bytes or less) took {time.monotonic() - removed:.1f} s")

    def verified():
        text = reassign(cl, kafka_classpath, plan, "--verify")
        return text if "Reassignment of partition throttled-move-0 is completed" in text else None
    text = ch.wait_for(verified, 120, "the reassignment to complete", interval_s=1.0)
    assert "Clearing topic-level throttles on topic throttled-move" in text, text
    described = harness.ok(harness.run_java_tool(kafka_classpath, CONFIG_COMMAND, "--bootstrap-server",
                                                 cl.bootstrap(), "--describe", "--entity-type", "topics",
                                                 "--entity-name", "throttled-move"))
    assert "throttled.replicas" not in described, described
    wait_described(cl, kafka_classpath, "throttled-move", lambda p: sorted(p[0]["isr"]) == [1, 2, 4], "1,2,4 in sync")
