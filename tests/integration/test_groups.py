"""Proves consumer groups and committed offsets work with real clients as against Apache Kafka: the
seed's kafka-python group consumer resumes after its commit, confluent-kafka members share
partitions (range, cooperative-sticky) and take over a SIGKILLed member's partitions, static
membership, commit()/committed(), the Java console consumer in a classic group,
kafka-consumer-groups.sh list/describe/reset/delete, and offsets surviving restart and SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka import TopicPartition as KTP

import clients
import harness


GROUP_SETS = harness.FAST_GROUP_SETS


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """This module's broker, with group settings that keep rebalances fast."""
    ext = harness.external_bootstrap()
    if ext:
        yield harness.external_broker(ext)
        return
    proc = harness.gregor_process(tmp_path_factory.mktemp("gregor-groups"), extra_sets=GROUP_SETS)
    try:
        proc.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield proc
    proc.stop()


def group_consumer(bootstrap, group, **conf):
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    base.update(conf)
    return Consumer(base)


def poll_values(consumer, expected, timeout_s=30):
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        got.append(m.value())
    return got


# ---------------------------------------------------------------- kafka-python (the seed)
def test_kafka_python_group_consumer_resumes_after_commit(bootstrap):
    from kafka import KafkaConsumer, KafkaProducer

    topic = harness.unique_topic("seed")
    group = harness.unique_topic("analytics_team")
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(30):
        producer.send(topic, f"first-{i}".encode())
    producer.flush()

    def run_once():
        c = KafkaConsumer(topic, group_id=group, bootstrap_servers=[bootstrap],
                          auto_offset_reset="earliest", consumer_timeout_ms=4000)
        try:
            values = [m.value for m in c]
            c.commit()
            return values
        finally:
            c.close()

    assert sorted(run_once()) == sorted(f"first-{i}".encode() for i in range(30))
    for i in range(5):
        producer.send(topic, f"second-{i}".encode())
    producer.flush()
    producer.close()
    assert sorted(run_once()) == sorted(f"second-{i}".encode() for i in range(5))


# ---------------------------------------------------------------- confluent-kafka
def test_commit_and_committed_round_trip_metadata(bootstrap):
    topic = harness.unique_topic("commit")
    group = harness.unique_topic("g")
    clients.create_topic(bootstrap, topic, partitions=2)
    c = group_consumer(bootstrap, group)
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 7)], asynchronous=False)
        got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
        assert [(t.partition, t.offset) for t in got] == [(0, 5), (1, 7)]
    finally:
        c.close()
    # kafka-python carries commit metadata: it must come back unchanged.
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata
    k = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        k.commit({KTP(topic, 0): OffsetAndMetadata(9, "hello")})
        assert k.committed(KTP(topic, 0)) == 9
        assert k.committed(KTP(topic, 0), metadata=True).metadata == "hello"
        assert k.committed(KTP(topic, 1)) == 7
    finally:
        k.close()


def test_fresh_group_committed_is_invalid_offset(bootstrap):
    topic = harness.unique_topic("nocommit")
    clients.create_topic(bootstrap, topic, partitions=1)
    c = group_consumer(bootstrap, harness.unique_topic("g"))
    try:
        got = c.committed([TopicPartition(topic, 0)], timeout=10)
        assert got[0].offset < 0
    finally:
        c.close()


MEMBER_SCRIPT = r"""
import json, sys, time
from confluent_kafka import Consumer
bootstrap, group, topic, strategy = sys.argv[1:5]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
              "partition.assignment.strategy": strategy})
# Ownership events, stamped with the host's wall clock (shared by every member process): "assign"
# when the assignment arrives (eager: the whole set; cooperative: the added partitions), "revoke"
# when partitions are taken away, stamped before the callback returns, so before the member lets them go.
def event(kind, parts):
    print(json.dumps({kind: [p.partition for p in parts], "t": time.time()}), flush=True)
c.subscribe([topic], on_assign=lambda _c, parts: event("assign", parts),
            on_revoke=lambda _c, parts: event("revoke", parts))
while True:
    m = c.poll(0.2)
    if m is None or m.error():
        continue
    c.commit(message=m, asynchronous=False)
    print(json.dumps({"value": m.value().decode(), "partition": m.partition()}), flush=True)
"""


class member_process:
    """A group member in its own process (so that it can be SIGKILLed); tracks the partitions it
    owns and the times it owned each (`intervals`, [start, end) on the host's wall clock)."""

    def __init__(self, bootstrap, group, topic, strategy):
        self.values: list[str] = []
        self.owned: set[int] = set()
        self.intervals: list[tuple[int, float, float]] = []  # (partition, start, end) of ended ownerships
        self._since: dict[int, float] = {}
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([sys.executable, "-c", MEMBER_SCRIPT, bootstrap, group, topic, strategy],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if "value" in ev:
                    self.values.append(ev["value"])
                elif "assign" in ev:
                    for p in ev["assign"]:
                        self.owned.add(p)
                        self._since.setdefault(p, ev["t"])
                elif "revoke" in ev:
                    self._end(ev["revoke"], ev["t"])

    def _end(self, parts, t):
        for p in parts:
            self.owned.discard(p)
            if p in self._since:
                self.intervals.append((p, self._since.pop(p), t))

    def ownership(self, now: float) -> list[tuple[int, float, float]]:
        """Every ownership so far, the current ones ending at now."""
        with self.lock:
            return self.intervals + [(p, start, now) for p, start in self._since.items()]

    def current(self) -> set[int]:
        with self.lock:
            return set(self.owned)

    def kill(self):
        if self.proc.poll() is None:
            killed_at = time.time()  # it owns nothing from here on
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.reader.join(10)
            with self.lock:
                self._end(list(self._since), killed_at)
        self.proc.wait()


def assert_never_owned_twice(members: list[member_process]) -> None:
    """No partition was owned by two members at overlapping times (the recorded spans lie within
    the broker's grants: "assign" is stamped after it, "revoke" before the member lets go)."""
    now = time.time()
    by_partition: dict[int, list[tuple[float, float, int]]] = {}
    for i, m in enumerate(members):
        for p, start, end in m.ownership(now):
            by_partition.setdefault(p, []).append((start, end, i))
    for p, spans in by_partition.items():
        spans.sort()
        for k, (start, end, owner) in enumerate(spans):
            for s2, e2, o2 in spans[k + 1:]:
                if s2 >= end:
                    break
                assert o2 == owner, (f"partition {p} owned by member {owner} ({start:.3f}..{end:.3f}) and "
                                     f"by member {o2} ({s2:.3f}..{e2:.3f}) at once")


def settled(members: list[member_process], partitions: int) -> bool:
    """Every member owns something and together they own each partition exactly once."""
    owned = [m.current() for m in members]
    return (all(owned) and sum(len(o) for o in owned) == partitions
            and set().union(*owned) == set(range(partitions)))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_three_members_share_partitions_and_survive_a_sigkilled_member(bootstrap, strategy):
    topic = harness.unique_topic("share")
    group = harness.unique_topic("g")
    clients.create_topic(bootstrap, topic, partitions=6)
    clients.produce_all(bootstrap, topic, [{"value": f"a-{i}".encode(), "partition": i % 6} for i in range(60)])
    members = [member_process(bootstrap, group, topic, strategy) for _ in range(3)]
    try:
        all_values = lambda: set(v for m in members for v in m.values)  # noqa: E731
        harness.wait_until(lambda: len(all_values()) == 60, timeout_s=60, what="the first 60 records")
        # Once settled, every member owns partitions and together they own all six, each once.
        harness.wait_until(lambda: settled(members, 6), timeout_s=60,
                           what=f"three owners of six partitions: {[sorted(m.current()) for m in members]}")
        assert_never_owned_twice(members)
        victim = members[0]
        victim.kill()
        clients.produce_all(bootstrap, topic, [{"value": f"b-{i}".encode(), "partition": i % 6} for i in range(60)])
        survivors = members[1:]
        survivor_values = lambda: set(v for m in survivors for v in m.values)  # noqa: E731
        harness.wait_until(lambda: {f"b-{i}" for i in range(60)} <= survivor_values(), timeout_s=60,
                           what="the survivors to read every new record after the session timeout")
        assert {f"a-{i}" for i in range(60)} <= all_values()
        harness.wait_until(lambda: settled(survivors, 6), timeout_s=30,
                           what=f"two owners of six partitions: {[sorted(m.current()) for m in survivors]}")
        assert_never_owned_twice(members)
    finally:
        for m in members:
            m.kill()


def test_static_member_restart_gets_its_partitions_back(bootstrap):
    topic = harness.unique_topic("static")
    group = harness.unique_topic("g")
    clients.create_topic(bootstrap, topic, partitions=3)
    clients.produce_all(bootstrap, topic, [{"value": b"x", "partition": p} for p in range(3)])
    assigned = []

    def run(timeout_s=30):
        c = group_consumer(bootstrap, group, **{"group.instance.id": "instance-1", "session.timeout.ms": 20000})
        c.subscribe([topic], on_assign=lambda _c, parts: assigned.append(sorted(p.partition for p in parts)))
        got = poll_values(c, 3, timeout_s)
        return c, got

    c1, got = run()
    assert len(got) == 3
    c1.close()  # a static member does not leave the group on close
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    desc = admin.describe_consumer_groups([group])[0]
    assert desc.state == "Stable" and len(desc.members) == 1
    c2 = group_consumer(bootstrap, group, **{"group.instance.id": "instance-1", "session.timeout.ms": 20000})
    c2.subscribe([topic], on_assign=lambda _c, parts: assigned.append(sorted(p.partition for p in parts)))
    try:
        deadline = time.monotonic() + 20
        while len(assigned) < 2 and time.monotonic() < deadline:
            c2.poll(0.2)
        assert assigned[-1] == [0, 1, 2]
        desc = admin.describe_consumer_groups([group])[0]
        assert desc.state == "Stable" and len(desc.members) == 1
    finally:
        c2.close()
        admin.close()


def test_list_describe_and_delete_groups_via_admin_client(bootstrap):
    topic = harness.unique_topic("admin")
    group = harness.unique_topic("g")
    clients.create_topic(bootstrap, topic, partitions=1)
    clients.produce_all(bootstrap, topic, [{"value": b"v"}])
    c = group_consumer(bootstrap, group)
    c.subscribe([topic])
    assert poll_values(c, 1) == [b"v"]
    c.commit(asynchronous=False)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        assert (group, "consumer") in admin.list_consumer_groups()
        desc = admin.describe_consumer_groups([group])[0]
        assert desc.state == "Stable"
        assert desc.protocol == "range"
        assert len(desc.members) == 1
        assert admin.list_consumer_group_offsets(group)[KTP(topic, 0)].offset == 1
        # A live group cannot be deleted.
        assert admin.delete_consumer_groups([group])[0][1].__name__ == "NonEmptyGroupError"
        c.close()
        harness.wait_until(lambda: admin.describe_consumer_groups([group])[0].state == "Empty",
                           timeout_s=15, what="the group to become empty")
        assert admin.delete_consumer_groups([group])[0][1].__name__ == "NoError"
        assert group not in [g for g, _ in admin.list_consumer_groups()]
        assert admin.describe_consumer_groups([group])[0].state == "Dead"
    finally:
        admin.close()
    c2 = group_consumer(bootstrap, group)
    try:
        assert c2.committed([TopicPartition(topic, 0)], timeout=10)[0].offset < 0
    finally:
        c2.close()


# ---------------------------------------------------------------- durability
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["restart", "sigkill"])
def test_committed_offsets_survive_restart_and_sigkill(gregor_factory, how):
    g = gregor_factory(extra_sets=GROUP_SETS)
    topic = harness.unique_topic("durable")
    group = harness.unique_topic("g")
    clients.create_topic(g.bootstrap, topic, partitions=2)
    c = group_consumer(g.bootstrap, group)
    c.commit(offsets=[TopicPartition(topic, 0, 11), TopicPartition(topic, 1, 22)], asynchronous=False)
    c.close()
    if how == "restart":
        g.restart()
    else:
        g.kill_and_restart()
    c = group_consumer(g.bootstrap, group)
    try:
        got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=20)
        assert [(t.partition, t.offset) for t in got] == [(0, 11), (1, 22)]
    finally:
        c.close()
    md = AdminClient({"bootstrap.servers": g.bootstrap}).list_topics(timeout=10)
    assert "__consumer_offsets" in md.topics


# ---------------------------------------------------------------- Java
def run_tool(classpath: str, main_class: str, *args: str, timeout_s: float = 90, check=True) -> str:
    proc = harness.run_java_tool(classpath, main_class, *args, timeout_s=timeout_s)
    return harness.ok(proc) if check else proc.stdout


@pytest.mark.java
@pytest.mark.timeout(240)
def test_java_console_consumer_in_a_classic_group_and_consumer_groups_command(bootstrap, kafka_classpath):
    topic = harness.unique_topic("java")
    group = harness.unique_topic("jg")
    clients.create_topic(bootstrap, topic, partitions=2)
    clients.produce_all(bootstrap, topic, [{"value": f"v{i}".encode(), "partition": i % 2} for i in range(10)])
    out = run_tool(kafka_classpath, "org.apache.kafka.tools.consumer.ConsoleConsumer",
                   "--bootstrap-server", bootstrap, "--topic", topic, "--group", group,
                   "--command-property", "group.protocol=classic",
                   "--command-property", "auto.offset.reset=earliest",
                   "--max-messages", "10", "--timeout-ms", "60000")
    assert sorted(out.split()) == sorted(f"v{i}" for i in range(10))

    cmd = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
    listed = run_tool(kafka_classpath, cmd, "--bootstrap-server", bootstrap, "--list")
    assert group in listed.split()
    described = run_tool(kafka_classpath, cmd, "--bootstrap-server", bootstrap, "--describe", "--group", group)
    rows = [line.split() for line in described.splitlines() if line.startswith(group)]
    assert len(rows) == 2
    for row in rows:  # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
        assert row[1] == topic and row[3] == "5" and row[4] == "5" and row[5] == "0"
    run_tool(kafka_classpath, cmd, "--bootstrap-server", bootstrap, "--reset-offsets", "--group", group,
             "--topic", topic, "--to-earliest", "--execute")
    c = group_consumer(bootstrap, group)
    try:
        got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
        assert [t.offset for t in got] == [0, 0]
    finally:
        c.close()
    run_tool(kafka_classpath, cmd, "--bootstrap-server", bootstrap, "--delete", "--group", group)
    listed = run_tool(kafka_classpath, cmd, "--bootstrap-server", bootstrap, "--list")
    assert group not in listed.split()


java_cmd = harness.java_tool_cmd


@pytest.mark.java
@pytest.mark.timeout(240)
def test_java_consumers_with_the_kip848_consumer_protocol_share_partitions(bootstrap, kafka_classpath, tmp_path):
    topic = harness.unique_topic("kip848")
    group = harness.unique_topic("cg")
    clients.create_topic(bootstrap, topic, partitions=4)
    clients.produce_all(bootstrap, topic, [{"value": f"a{i}".encode(), "partition": i % 4} for i in range(8)])

    def start_member(out_path):
        return subprocess.Popen(java_cmd(kafka_classpath, "org.apache.kafka.tools.consumer.ConsoleConsumer",
                                         "--bootstrap-server", bootstrap, "--topic", topic, "--group", group,
                                         "--command-property", "group.protocol=consumer",
                                         "--command-property", "auto.offset.reset=earliest",
                                         "--timeout-ms", "60000"),
                                stdout=open(out_path, "w"), stderr=subprocess.DEVNULL, start_new_session=True)

    out_a, out_b = tmp_path / "a.txt", tmp_path / "b.txt"
    a = start_member(out_a)
    b = None
    try:
        values = lambda p: p.read_text().split() if p.exists() else []  # noqa: E731
        harness.wait_until(lambda: len(values(out_a)) == 8, timeout_s=60, what="member a to read 8 records")
        b = start_member(out_b)
        def both_own_partitions():
            out = subprocess.run(java_cmd(kafka_classpath,
                                          "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                                          "--bootstrap-server", bootstrap, "--describe", "--group", group,
                                          "--members"), capture_output=True, text=True, timeout=60).stdout
            rows = [line.split() for line in out.splitlines() if line.startswith(group)]
            return len(rows) == 2 and all(r[4] == "2" for r in rows)

        harness.wait_until(both_own_partitions, timeout_s=60, interval_s=1.0,
                           what="both members to own two partitions each")
        clients.produce_all(bootstrap, topic, [{"value": f"b{i}".encode(), "partition": i % 4} for i in range(8)])
        harness.wait_until(lambda: sorted(v for v in values(out_a) + values(out_b) if v.startswith("b"))
                           == sorted(f"b{i}" for i in range(8)), timeout_s=60, what="the second 8 records")
        assert values(out_b), "the second member read nothing"
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
