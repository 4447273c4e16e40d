"""Proves that dynamic broker configs work like Kafka's through kafka-configs.sh (ConfigCommand) and
the AdminClient: a cluster-wide default (--entity-default) and a per-broker value (--entity-name 1)
are persisted, shown with DYNAMIC_DEFAULT_BROKER_CONFIG / DYNAMIC_BROKER_CONFIG sources, applied at
once to topics that use the broker default (retention deletes their records without a restart),
survive a SIGKILL restart, and read-only configs are refused with Kafka's message."""
from __future__ import annotations

import subprocess

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource

import clients
import harness

pytestmark = pytest.mark.gregor_only

TOOL = "kafka.admin.ConfigCommand"  # what kafka-configs.sh runs


def configs_cmd(classpath: str, *args: str) -> subprocess.CompletedProcess:
    return harness.run_java_tool(classpath, TOOL, *args)


ok = harness.ok


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    c = clients.consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def topic_config(bootstrap: str, topic: str, name: str):
    admin = clients.admin(bootstrap)
    desc = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    return list(desc.values())[0].result(timeout=15)[name]


@pytest.mark.java
@pytest.mark.timeout(300)
def test_kafka_configs_sets_broker_defaults_dynamically_and_they_persist(gregor_factory, kafka_classpath):
    g = gregor_factory({"log.retention.check.interval.ms": "200", "log.segment.delete.delay.ms": "0"})
    topic = harness.unique_topic("dynbroker")
    clients.create_topic(g.bootstrap, topic)
    clients.produce_all(g.bootstrap, topic, [{"value": b"r%d" % i} for i in range(20)], acks="all")
    assert watermarks(g.bootstrap, topic) == (0, 20)
    default = ["--bootstrap-server", g.bootstrap, "--entity-type", "brokers", "--entity-default"]
    broker1 = ["--bootstrap-server", g.bootstrap, "--entity-type", "brokers", "--entity-name", "1"]

    # A cluster-wide default applies at once to a topic without an override: its records expire.
    ok(configs_cmd(kafka_classpath, *default, "--alter", "--add-config", "log.retention.ms=1000"))
    out = ok(configs_cmd(kafka_classpath, *default, "--describe"))
    assert "log.retention.ms=1000" in out and "DYNAMIC_DEFAULT_BROKER_CONFIG" in out, out
    harness.wait_until(lambda: watermarks(g.bootstrap, topic) == (20, 20), timeout_s=20,
                       what="the topic to follow the new broker default retention")
    retention = topic_config(g.bootstrap, topic, "retention.ms")
    assert retention.value == "1000" and retention.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value

    # A per-broker value wins over the default; the topic reports it with its source.
    ok(configs_cmd(kafka_classpath, *broker1, "--alter", "--add-config",
                   "log.retention.ms=86400000,log.segment.bytes=2097152"))
    out = ok(configs_cmd(kafka_classpath, *broker1, "--describe"))
    assert "log.retention.ms=86400000" in out and "DYNAMIC_BROKER_CONFIG" in out, out
    assert "log.segment.bytes=2097152" in out, out
    retention = topic_config(g.bootstrap, topic, "retention.ms")
    assert retention.value == "86400000" and retention.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    synonyms = [(s.name, s.value, s.source) for s in retention.synonyms.values()] \
        if isinstance(retention.synonyms, dict) else [(s.name, s.value, s.source) for s in retention.synonyms]
    assert ("log.retention.ms", "1000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value) in synonyms, synonyms

    # A read-only broker config is refused with Kafka's message and changes nothing.
    bad = configs_cmd(kafka_classpath, *default, "--alter", "--add-config", "auto.create.topics.enable=false")
    text = bad.stdout + bad.stderr
    assert bad.returncode != 0, text
    assert "Cannot update these configs dynamically: Set(auto.create.topics.enable)" in text, text

    # Everything survives a crash.
    g.kill_and_restart()
    out = ok(configs_cmd(kafka_classpath, *default, "--describe"))
    assert "log.retention.ms=1000" in out, out
    out = ok(configs_cmd(kafka_classpath, *broker1, "--describe"))
    assert "log.retention.ms=86400000" in out and "log.segment.bytes=2097152" in out, out
    assert "auto.create.topics.enable" not in out, out
    assert topic_config(g.bootstrap, topic, "segment.bytes").value == "2097152"

    # --delete-config falls back to the next level: the default, then the static value.
    ok(configs_cmd(kafka_classpath, *broker1, "--alter", "--delete-config", "log.retention.ms"))
    assert topic_config(g.bootstrap, topic, "retention.ms").value == "1000"
    ok(configs_cmd(kafka_classpath, *default, "--alter", "--delete-config", "log.retention.ms"))
    retention = topic_config(g.bootstrap, topic, "retention.ms")
    assert retention.value == "604800000" and retention.source == ConfigSource.DEFAULT_CONFIG.value


def test_admin_client_alters_broker_configs_and_refuses_bad_values(gregor_factory):
    g = gregor_factory()
    admin = clients.admin(g.bootstrap)
    # Legacy AlterConfigs replaces the resource's dynamic configs.
    res = ConfigResource(ConfigResource.Type.BROKER, "1", set_config={"message.max.bytes": "2000000"})
    for f in admin.alter_configs([res]).values():
        f.result(timeout=15)
    desc = admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "1")])
    configs = list(desc.values())[0].result(timeout=15)
    assert configs["message.max.bytes"].value == "2000000"
    assert configs["message.max.bytes"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert not configs["message.max.bytes"].is_read_only
    assert configs["node.id"].is_read_only
    bad = ConfigResource(ConfigResource.Type.BROKER, "1", set_config={"log.retention.ms": "abc"})
    with pytest.raises(KafkaException) as e:
        for f in admin.alter_configs([bad]).values():
            f.result(timeout=15)
    assert "INVALID_REQUEST" in str(e.value) and "log.retention.ms" in str(e.value), str(e.value)
    # Nothing changed (the refused request would have replaced message.max.bytes).
    configs = list(admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "1")]).values())[0].result(timeout=15)
    assert configs["message.max.bytes"].value == "2000000"
    # The topic's effective max.message.bytes follows (a topic without an override).
    topic = harness.unique_topic("dynmax")
    clients.create_topic(g.bootstrap, topic)
    assert topic_config(g.bootstrap, topic, "max.message.bytes").value == "2000000"
