"""Proves Gregor-specific process behaviour: data, offsets, topics, partition counts and topic
configs survive a clean restart and a SIGKILL restart on the same log dir, and bad configuration
makes `gregor serve` exit non-zero naming the offending key."""
from __future__ import annotations

import pytest
from confluent_kafka.admin import ConfigResource, NewPartitions

import clients
import harness

pytestmark = pytest.mark.gregor_only


def produce_values(bootstrap, topic, values, partition=0):
    delivered = clients.produce_all(bootstrap, topic, [{"value": v, "key": v, "partition": partition}
                                                       for v in values])
    return [m.offset() for m in delivered]


def test_data_survives_clean_restart_and_offsets_continue(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("restart")
    clients.create_topic(g.bootstrap, topic)
    first = [b"before-%d" % i for i in range(100)]
    assert produce_values(g.bootstrap, topic, first) == list(range(100))

    assert g.stop() == 0, f"SIGTERM exit code not 0; stderr:\n{g.stderr_tail()}"
    g.start()

    got = clients.consume_all(g.bootstrap, topic, expected=100)
    assert [m.value() for m in got] == first
    assert [m.offset() for m in got] == list(range(100))
    more = [b"after-%d" % i for i in range(10)]
    assert produce_values(g.bootstrap, topic, more) == list(range(100, 110))
    got = clients.consume_all(g.bootstrap, topic, expected=110)
    assert [m.value() for m in got] == first + more


def test_acknowledged_data_survives_sigkill_restart(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("kill")
    clients.create_topic(g.bootstrap, topic)
    values = [b"v%d" % i for i in range(50)]
    # acks=all: acknowledged means durable as far as the broker promises (flushed or not, the
    # process dying must not lose what the OS already holds).
    delivered = clients.produce_all(g.bootstrap, topic, [{"value": v} for v in values], acks="all")
    assert [m.offset() for m in delivered] == list(range(50))

    g.kill_and_restart()

    got = clients.consume_all(g.bootstrap, topic, expected=50)
    assert [m.value() for m in got] == values
    assert produce_values(g.bootstrap, topic, [b"next"]) == [50]


def test_topics_partition_counts_and_configs_survive_restart(gregor_factory):
    g = gregor_factory()
    plain = harness.unique_topic("keep")
    configured = harness.unique_topic("keepcfg")
    clients.create_topic(g.bootstrap, plain, partitions=3)
    clients.create_topic(g.bootstrap, configured, partitions=2,
                         config={"retention.ms": "7654321", "max.message.bytes": "300000"})
    a = clients.admin(g.bootstrap)
    fs = a.create_partitions([NewPartitions(configured, 4)], operation_timeout=30)
    fs[configured].result(30)
    clients.wait_for_topic(g.bootstrap, configured, 4)
    deleted = harness.unique_topic("gone")
    clients.create_topic(g.bootstrap, deleted)
    a.delete_topics([deleted], operation_timeout=30)[deleted].result(30)
    harness.wait_until(lambda: deleted not in a.list_topics(timeout=10).topics, what="delete")
    del a

    g.restart()

    a = clients.admin(g.bootstrap)
    md = a.list_topics(timeout=10)
    assert len(md.topics[plain].partitions) == 3
    assert len(md.topics[configured].partitions) == 4
    assert deleted not in md.topics
    (fut,) = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, configured)]).values()
    configs = fut.result(30)
    assert configs["retention.ms"].value == "7654321"
    assert configs["max.message.bytes"].value == "300000"


def test_broker_level_set_overrides_take_effect(gregor_factory):
    g = gregor_factory({"num.partitions": "3", "auto.create.topics.enable": "true"})
    topic = harness.unique_topic("np")
    clients.produce_all(g.bootstrap, topic, [{"value": b"x"}])
    clients.wait_for_topic(g.bootstrap, topic, 3)


def test_auto_create_disabled_refuses_unknown_topics(gregor_factory):
    g = gregor_factory({"auto.create.topics.enable": "false"})
    topic = harness.unique_topic("noauto")
    p = clients.producer(g.bootstrap, message_timeout_ms=3000)
    errors = []
    p.produce(topic, value=b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    assert errors and errors[0] is not None
    assert topic not in clients.admin(g.bootstrap).list_topics(timeout=10).topics


@pytest.mark.parametrize("setting,key", [
    ("num.partitions=abc", "num.partitions"),
    ("no.such.key=1", "no.such.key"),
    ("log.retention.ms=-5x", "log.retention.ms"),
    ("node.id=", "node.id"),
])
def test_bad_config_makes_serve_exit_nonzero_naming_the_key(tmp_path, setting, key):
    if not harness.gregor_binary().exists():
        pytest.fail(f"gregor binary not found at {harness.gregor_binary()}")
    port = harness.free_port()
    proc = harness.run_gregor_once([
        "serve", "--set", f"listeners=PLAINTEXT://127.0.0.1:{port}",
        "--set", f"log.dirs={tmp_path}", "--set", setting])
    assert proc.returncode != 0, f"gregor accepted {setting!r}; output:\n{proc.stdout}\n{proc.stderr}"
    assert key in proc.stderr + proc.stdout, f"message does not name {key}:\n{proc.stderr}"


def test_unknown_config_file_is_an_error(tmp_path):
    if not harness.gregor_binary().exists():
        pytest.fail(f"gregor binary not found at {harness.gregor_binary()}")
    missing = tmp_path / "nope.properties"
    proc = harness.run_gregor_once(["serve", "--config", str(missing)])
    assert proc.returncode != 0
    assert "nope.properties" in proc.stderr + proc.stdout
