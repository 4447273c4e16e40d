"""Proves KIP-848 consumer group state survives a broker restart: a Java consumer
(group.protocol=consumer) keeps its member id, member epoch and partitions across a SIGKILL and a
clean restart of Gregor (no new rebalance: the epoch it had before is the epoch it has after), keeps
reading new records, and ConsumerGroupDescribe (kafka-consumer-groups.sh) shows the group."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

import clients
import harness

pytestmark = pytest.mark.java

GROUP_SETS = harness.FAST_GROUP_SETS


java_cmd = harness.java_tool_cmd


def members(classpath: str, bootstrap: str, group: str) -> dict[str, tuple[int, int]]:
    """member id -> (current epoch, #partitions), from kafka-consumer-groups.sh --members --verbose."""
    proc = subprocess.run(java_cmd(classpath, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                                   "--bootstrap-server", bootstrap, "--describe", "--group", group,
                                   "--members", "--verbose"), capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    header = next((line.split() for line in lines if line.startswith("GROUP")), None)
    if not header or "CURRENT-EPOCH" not in header:
        return {}
    out = {}
    for line in lines:
        cols = line.split()
        if cols and cols[0] == group and len(cols) >= len(header) - 2:
            row = dict(zip(header, cols))
            out[row["CONSUMER-ID"]] = (int(row["CURRENT-EPOCH"]), int(row["#PARTITIONS"]))
    return out


@pytest.mark.timeout(420)
def test_kip848_member_keeps_its_epoch_and_partitions_across_broker_restarts(gregor_factory, kafka_classpath, tmp_path):
    g = gregor_factory(GROUP_SETS)
    topic = harness.unique_topic("kip848r")
    group = harness.unique_topic("cgr")
    clients.create_topic(g.bootstrap, topic, partitions=2)
    sent = []

    def produce(tag: str):
        batch = [f"{tag}{i}" for i in range(4)]
        clients.produce_all(g.bootstrap, topic, [{"value": v.encode(), "partition": i % 2} for i, v in enumerate(batch)])
        sent.extend(batch)

    def start_member(out_path):
        return subprocess.Popen(java_cmd(kafka_classpath, "org.apache.kafka.tools.consumer.ConsoleConsumer",
                                         "--bootstrap-server", g.bootstrap, "--topic", topic, "--group", group,
                                         "--command-property", "group.protocol=consumer",
                                         "--command-property", "auto.offset.reset=earliest",
                                         "--timeout-ms", "120000"),
                                stdout=open(out_path, "w"), stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(p):
        if p is not None and p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    out_a, out_b = tmp_path / "a.txt", tmp_path / "b.txt"
    read_a = lambda: out_a.read_text().split() if out_a.exists() else []  # noqa: E731
    produce("a")
    a = start_member(out_a)
    b = None
    try:
        harness.wait_until(lambda: set(read_a()) >= set(sent), timeout_s=90, what="member a to read")
        # A second member joins and leaves, so a's epoch is well past the 1 a fresh join would give.
        b = start_member(out_b)
        harness.wait_until(lambda: len(members(kafka_classpath, g.bootstrap, group)) == 2, timeout_s=90,
                           interval_s=1.0, what="two members")
        stop(b)
        b = None

        def settled():
            m = members(kafka_classpath, g.bootstrap, group)
            # Once a heartbeats again it moves to the epoch of b's leaving (3 or more).
            return m if len(m) == 1 and next(iter(m.values()))[1] == 2 and next(iter(m.values()))[0] > 2 else None
        before = harness.wait_until(settled, timeout_s=90, interval_s=1.0, what="a to own both partitions")
        (member_id, (epoch, _)), = before.items()

        for how, bounce in (("SIGKILL", g.kill_and_restart), ("clean restart", g.restart)):
            bounce()
            tag = "k" if how == "SIGKILL" else "r"
            produce(tag)
            harness.wait_until(lambda: set(read_a()) >= set(sent), timeout_s=120,
                               what=f"member a to read the records produced after the {how}")
            after = members(kafka_classpath, g.bootstrap, group)
            assert after == {member_id: (epoch, 2)}, f"after the {how}: {after}, before: {before}"
    finally:
        stop(b)
        stop(a)
