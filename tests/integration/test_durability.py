"""Proves that the log never loses an acknowledged record and keeps its size in check: a SIGKILL
crash loop under acks=all load, garbage appended to a segment while stopped, retention by size and
time, DeleteRecords (Kafka's DeleteRecordsCommand, Java AdminClient) with the log start offset
surviving a crash, and runtime topic configs through kafka-configs.sh (ConfigCommand) and the
legacy AlterConfigs API."""
from __future__ import annotations

import collections

import json
import os
import random
import subprocess
import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource

import clients
import harness

pytestmark = pytest.mark.gregor_only



def watermarks(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    c = clients.consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


def partition_dir(g, topic: str, partition: int = 0):
    return g.log_dir / f"{topic}-{partition}"


@pytest.mark.parametrize("io", ["buffered", "direct"])
def test_crash_loop_keeps_every_acknowledged_record(gregor_factory, io):
    # "direct" (the default): O_DIRECT segments, whose active file is block-padded when killed;
    # "buffered": every write through the page cache, as Kafka does.
    g = gregor_factory({"log.direct.io": "true" if io == "direct" else "false"})
    topic = harness.unique_topic("crash")
    clients.create_topic(g.bootstrap, topic)
    acks: list[tuple[int, bytes]] = []  # every acknowledgement, in order (appended by the callback)
    rng = random.Random(7)
    started = time.monotonic()
    iterations = 20
    for it in range(iterations):
        p = clients.producer(g.bootstrap, acks="all", linger_ms=2, message_timeout_ms=5000,
                             retries=0)
        stop = threading.Event()
        lock = threading.Lock()

        def on_delivery(err, msg):  # records only: the test thread asserts (an exception here
            if err is None:          # would end the load thread, not the test)
                with lock:
                    acks.append((msg.offset(), msg.value()))

        def load():
            n = 0
            while not stop.is_set():
                try:
                    p.produce(topic, value=b"it%d-%d" % (it, n), on_delivery=on_delivery)
                    n += 1
                except BufferError:
                    pass
                p.poll(0.001)

        t = threading.Thread(target=load)
        t.start()
        # Kill mid-load: once acks flow (slow machines need the connection set up first), after a
        # random number of further acknowledgements.
        target = len(acks) + 1 + rng.randrange(60)
        harness.wait_until(lambda: len(acks) >= target, timeout_s=20, interval_s=0.005,
                           what=f"{target} acknowledgements")
        g.kill()  # SIGKILL mid-load
        stop.set()
        t.join()
        p.purge()
        p.flush(2)
        g.start()
    elapsed = time.monotonic() - started
    twice = sorted(o for o, n in collections.Counter(o for o, _ in acks).items() if n > 1)
    assert not twice, f"offsets acknowledged twice: {twice[:10]}"
    acked = dict(acks)
    assert len(acked) > iterations, "the load produced almost nothing"
    got = clients.consume_all(g.bootstrap, topic, expected=len(acked), timeout_s=60)
    by_offset = {m.offset(): m.value() for m in got}
    missing = [o for o in acked if by_offset.get(o) != acked[o]]
    assert not missing, f"{len(missing)} acknowledged records lost or changed, e.g. offsets {missing[:10]}"
    offsets = [m.offset() for m in got]
    assert offsets == sorted(set(offsets)), "offsets must be unique and increasing"
    # New appends continue after the last offset, without a gap.
    delivered = clients.produce_all(g.bootstrap, topic, [{"value": b"after"}], acks="all")
    assert delivered[0].offset() == (offsets[-1] + 1 if offsets else 0)
    print(f"{iterations} crash iterations, {len(acked)} acked records, {elapsed:.1f}s")


@pytest.mark.parametrize("how", ["clean", "kill"])
def test_garbage_appended_to_a_segment_while_stopped_is_truncated(gregor_factory, how):
    g = gregor_factory()
    topic = harness.unique_topic("garbage")
    clients.create_topic(g.bootstrap, topic)
    values = [b"g%d" % i for i in range(30)]
    clients.produce_all(g.bootstrap, topic, [{"value": v} for v in values], acks="all")
    if how == "clean":
        assert g.stop() == 0
    else:
        g.kill()
    seg = partition_dir(g, topic) / "00000000000000000000.log"
    with open(seg, "ab") as f:
        f.write(bytes(random.Random(1).randrange(256) for _ in range(777)))
    g.start()
    got = clients.consume_all(g.bootstrap, topic, expected=30)
    assert [m.value() for m in got] == values
    delivered = clients.produce_all(g.bootstrap, topic, [{"value": b"next"}], acks="all")
    assert delivered[0].offset() == 30
    assert "truncat" in g.stderr_tail()


def retention_passes_ran(g, passes: int) -> None:
    """Returns once `passes` retention passes ran after the call: a witness topic with retention.ms=1
    gets one record at a time, each deleted by the first pass after its append. Every log is
    checked by each pass (log.retention.check.interval.ms apart), so the other logs were too."""
    witness = harness.unique_topic("witness")
    clients.create_topic(g.bootstrap, witness, config={"retention.ms": "1", "file.delete.delay.ms": "0"})
    for n in range(1, passes + 1):
        clients.produce_all(g.bootstrap, witness, [{"value": b"w%d" % n}], acks="all")
        harness.wait_until(lambda: watermarks(g.bootstrap, witness)[0] == n, timeout_s=15,
                           what=f"retention pass {n} after the check began")


def test_retention_by_size_deletes_old_segments_and_moves_the_log_start(gregor_factory):
    g = gregor_factory({"log.retention.check.interval.ms": "200"})
    topic = harness.unique_topic("rbytes")
    clients.create_topic(g.bootstrap, topic, config={
        "segment.bytes": str(1024 * 1024), "retention.bytes": str(2 * 1024 * 1024),
        "file.delete.delay.ms": "0"})
    value = b"x" * 10000
    clients.produce_all(g.bootstrap, topic, [{"value": value} for _ in range(500)], acks="all",
                        linger_ms=5)
    pdir = partition_dir(g, topic)

    def log_bytes():
        return sum(f.stat().st_size for f in pdir.glob("*.log"))

    # Kafka's rule: the oldest segments go while what remains is still >= retention.bytes.
    harness.wait_until(lambda: log_bytes() < 3 * 1024 * 1024, timeout_s=20, what="retention by size")
    harness.wait_until(lambda: not list(pdir.glob("*.deleted")), what=".deleted files removed")
    assert log_bytes() >= 2 * 1024 * 1024
    # Further retention passes change nothing: the same log start, segments and bytes after two
    # more passes as before them.
    before = (watermarks(g.bootstrap, topic), harness.segment_bases(g.log_dir, topic), log_bytes())
    retention_passes_ran(g, passes=2)
    assert (watermarks(g.bootstrap, topic), harness.segment_bases(g.log_dir, topic), log_bytes()) == before
    low, high = before[0]
    assert high == 500 and low > 0
    got = clients.consume_all(g.bootstrap, topic, expected=high - low)
    assert got[0].offset() == low and got[-1].offset() == 499
    # The advanced log start offset survives a crash.
    g.kill_and_restart()
    assert watermarks(g.bootstrap, topic)[0] >= low


def test_retention_by_time_expires_everything_including_the_active_segment(gregor_factory):
    g = gregor_factory({"log.retention.check.interval.ms": "200"})
    topic = harness.unique_topic("rtime")
    clients.create_topic(g.bootstrap, topic, config={"retention.ms": "1500", "file.delete.delay.ms": "0"})
    clients.produce_all(g.bootstrap, topic, [{"value": b"old-%d" % i} for i in range(20)], acks="all")
    assert watermarks(g.bootstrap, topic) == (0, 20)
    harness.wait_until(lambda: watermarks(g.bootstrap, topic) == (20, 20), timeout_s=15,
                       what="every record to expire")
    delivered = clients.produce_all(g.bootstrap, topic, [{"value": b"new"}], acks="all")
    assert delivered[0].offset() == 20
    got = clients.consume_all(g.bootstrap, topic, expected=1)
    assert [m.value() for m in got] == [b"new"]


def run_tool(classpath: str, main_class: str, *args: str, timeout_s: float = 90) -> str:
    return harness.ok(harness.run_java_tool(classpath, main_class, *args, timeout_s=timeout_s))


@pytest.mark.java
@pytest.mark.timeout(240)
def test_delete_records_via_the_java_admin_client_moves_the_log_start(gregor_factory, kafka_classpath, tmp_path):
    g = gregor_factory()
    topic = harness.unique_topic("delrec")
    clients.create_topic(g.bootstrap, topic)
    clients.produce_all(g.bootstrap, topic, [{"value": b"d%d" % i} for i in range(40)], acks="all")
    spec = tmp_path / "offsets.json"
    spec.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 25}]}))
    out = run_tool(kafka_classpath, "org.apache.kafka.tools.DeleteRecordsCommand",
                   "--bootstrap-server", g.bootstrap, "--offset-json-file", str(spec))
    assert "low_watermark: 25" in out, out
    assert watermarks(g.bootstrap, topic) == (25, 40)
    # A fetch below the log start is OFFSET_OUT_OF_RANGE: with auto.offset.reset=error it surfaces.
    c = clients.consumer(g.bootstrap, **{"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(topic, 0, 3)])
        deadline = time.monotonic() + 15
        err = None
        while time.monotonic() < deadline and err is None:
            m = c.poll(0.5)
            if m is not None and m.error() and m.error().code() != -191:
                err = m.error()
        # librdkafka reports the broker's OFFSET_OUT_OF_RANGE as _AUTO_OFFSET_RESET, naming it.
        assert err is not None and err.code() == KafkaError._AUTO_OFFSET_RESET, err
        assert "Broker: Offset out of range" in err.str(), err.str()
    finally:
        c.close()
    got = clients.consume_all(g.bootstrap, topic, expected=15)
    assert [m.offset() for m in got] == list(range(25, 40))
    # Past the high watermark is refused; the log start survives SIGKILL (checkpointed at once).
    spec.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 41}]}))
    out = run_tool(kafka_classpath, "org.apache.kafka.tools.DeleteRecordsCommand",
                   "--bootstrap-server", g.bootstrap, "--offset-json-file", str(spec))
    assert "OffsetOutOfRange" in out or "out of range" in out.lower(), out
    g.kill_and_restart()
    assert watermarks(g.bootstrap, topic) == (25, 40)


@pytest.mark.java
@pytest.mark.timeout(240)
def test_kafka_configs_alters_and_describes_topic_configs_persistently(gregor_factory, kafka_classpath):
    g = gregor_factory()
    topic = harness.unique_topic("cfgcmd")
    clients.create_topic(g.bootstrap, topic)
    tool = "kafka.admin.ConfigCommand"  # what kafka-configs.sh runs in Kafka 4.3
    base = ["--bootstrap-server", g.bootstrap, "--entity-type", "topics", "--entity-name", topic]
    run_tool(kafka_classpath, tool, *base, "--alter", "--add-config",
             "retention.ms=123456,cleanup.policy=[compact,delete],flush.messages=1")
    out = run_tool(kafka_classpath, tool, *base, "--describe")
    assert "retention.ms=123456" in out, out
    assert "cleanup.policy=compact,delete" in out, out
    assert "flush.messages=1" in out, out
    run_tool(kafka_classpath, tool, *base, "--alter", "--delete-config", "flush.messages")
    g.kill_and_restart()
    out = run_tool(kafka_classpath, tool, *base, "--describe")
    assert "retention.ms=123456" in out and "flush.messages=1" not in out, out
    # A bad value is refused with Kafka's INVALID_CONFIG and changes nothing.
    cmd_fail = harness.run_java_tool(kafka_classpath, tool, *base, "--alter", "--add-config", "retention.ms=abc")
    assert cmd_fail.returncode == 1, cmd_fail
    # INVALID_CONFIG, with the broker's message naming the config and the value.
    failure = next((line for line in cmd_fail.stderr.splitlines() if "InvalidConfigurationException: " in line), "")
    assert "retention.ms" in failure and "abc" in failure, cmd_fail.stderr[-2000:]
    out = run_tool(kafka_classpath, tool, *base, "--describe")
    assert "retention.ms=123456" in out, out


def test_legacy_alter_configs_replaces_the_topic_overrides(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("altercfg")
    clients.create_topic(g.bootstrap, topic, config={"retention.ms": "99999", "flush.ms": "5000"})
    admin = clients.admin(g.bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"retention.bytes": "7777777"})
    for f in admin.alter_configs([res]).values():
        f.result(timeout=15)
    desc = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    configs = list(desc.values())[0].result(timeout=15)
    assert configs["retention.bytes"].value == "7777777"
    assert configs["retention.ms"].value == "604800000", "not mentioned: back to the default"
    assert configs["flush.ms"].is_default
    bad = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"segment.bytes": "12"})
    with pytest.raises(KafkaException) as e:
        for f in admin.alter_configs([bad]).values():
            f.result(timeout=15)
    err = e.value.args[0]
    assert err.code() == KafkaError.INVALID_CONFIG, err
    assert "segment.bytes" in err.str() and "12" in err.str() and "1048576" in err.str(), err.str()


def test_compaction_keeps_the_newest_value_per_key_and_drops_tombstones(gregor_factory):
    g = gregor_factory({"log.cleaner.backoff.ms": "200", "log.retention.check.interval.ms": "200"})
    topic = harness.unique_topic("compact")
    clients.create_topic(g.bootstrap, topic, config={
        "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "0", "file.delete.delay.ms": "0"})
    rounds = [[{"key": b"k%d" % k, "value": b"v%d-%d" % (r, k)} for k in range(10)] for r in range(3)]
    rounds.append([{"key": b"k%d" % k, "value": None} for k in range(5)])  # tombstones
    first = 0
    for msgs in rounds + [[{"key": b"filler", "value": b"x"}]]:
        if first:  # segment.ms has passed since the active segment's first append: this append rolls
            harness.wait_older_than(acked_at, 100, "segment.ms")
        clients.produce_all(g.bootstrap, topic, msgs, acks="all")
        acked_at = time.time()
        # The round began a segment (the cleaner never touches the active one).
        assert first in harness.segment_bases(g.log_dir, topic), harness.segment_bases(g.log_dir, topic)
        first += len(msgs)

    def compacted():
        got = clients.consume_all(g.bootstrap, topic)
        return got if len(got) == 6 else None

    got = harness.wait_until(compacted, timeout_s=30, what="compaction")
    assert {(m.key(), m.value()) for m in got[:-1]} == {(b"k%d" % k, b"v2-%d" % k) for k in range(5, 10)}
    assert [m.offset() for m in got[:-1]] == [25 + k for k in range(5)], "offsets are kept"
    assert got[-1].offset() == 35
    # Records without a key are refused on a compacted topic.
    p = clients.producer(g.bootstrap, acks="all", retries=0)
    reports = []
    p.produce(topic, value=b"no key", on_delivery=lambda err, msg: reports.append(err))
    assert p.flush(20) == 0
    # librdkafka does not surface Produce's error_message: the code is what the client sees.
    assert [(e.code(), e.name()) for e in reports] == [(KafkaError.INVALID_RECORD, "INVALID_RECORD")], reports
    # The compacted log survives a crash.
    g.kill_and_restart()
    again = clients.consume_all(g.bootstrap, topic, expected=6)
    assert [(m.offset(), m.value()) for m in again] == [(m.offset(), m.value()) for m in got]


class _tmpfs_gregor(harness.gregor_process):
    """A gregor process whose log dir is a small tmpfs in a private mount namespace."""

    size = "2m"

    def command(self) -> list[str]:
        inner = " ".join(f"'{a}'" for a in super().command())
        return ["unshare", "-m", "sh", "-c",
                f"mount -t tmpfs -o size={self.size} tmpfs '{self.log_dir}' && exec {inner}"]


def test_full_disk_answers_kafka_storage_error_and_keeps_reads_alive(tmp_path):
    if os.geteuid() != 0 or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("needs root and mount namespaces")
    g = _tmpfs_gregor(tmp_path / "full")
    g.start()
    try:
        topic = harness.unique_topic("full")
        clients.create_topic(g.bootstrap, topic)
        p = clients.producer(g.bootstrap, acks="all", retries=0, message_timeout_ms=5000, linger_ms=0)
        acked, errors = {}, []

        def on_delivery(err, msg):
            if err is None:
                acked[msg.offset()] = msg.value()
            else:
                errors.append(err)

        value = b"f" * 4000
        for i in range(1500):  # ~6 MB into a 2 MB disk
            p.produce(topic, value=value + b"%d" % i, on_delivery=on_delivery)
            p.flush(10)
            if len(errors) >= 3:
                break
        assert errors, "the disk never filled"
        assert any("KAFKA_STORAGE_ERROR" in e.name() for e in errors), [e.name() for e in errors]
        assert g.running(), "the broker must survive a full disk"
        # Reads still work and see exactly the acknowledged records, no half-written batch.
        got = clients.consume_all(g.bootstrap, topic, expected=len(acked))
        assert [m.offset() for m in got] == sorted(acked)
        assert all(acked[m.offset()] == m.value() for m in got)
    finally:
        g.kill()
