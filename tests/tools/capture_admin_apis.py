#!/usr/bin/env python3
"""Captures real client frames for the APIs the golden file had none of, against Apache Kafka.

    capture_admin_apis.py OUT_FILE

Starts a reference Kafka (run-reference-kafka.sh) advertising a capture_proxy.py port, then drives
Kafka's own tools (Java, from Maven) and kafka-python through the proxy: DescribeGroups, ListGroups,
DeleteRecords, OffsetForLeaderEpoch (a consumer resuming from a committed offset with its leader
epoch), AlterConfigs, IncrementalAlterConfigs, DeleteGroups, OffsetDelete, DescribeProducers,
ConsumerGroupHeartbeat and ConsumerGroupDescribe (a KIP-848 consumer). Every pair the proxy saw goes
to OUT_FILE (capture_proxy's format, labelled by step); append the lines of the APIs you want to
tests/unit/protocol/captured/kafka-4.3.1.txt.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent / "integration"))
import harness  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1]).resolve()
    broker_port, proxy_port = harness.free_port(), harness.free_port()
    bootstrap = f"127.0.0.1:{proxy_port}"
    cp = harness.kafka_classpath()
    with tempfile.TemporaryDirectory(prefix="capture-kafka-") as d:
        env = dict(os.environ, KAFKA_EXTRA_PROPS=f"advertised.listeners=PLAINTEXT://127.0.0.1:{proxy_port}")
        subprocess.run([str(here / "run-reference-kafka.sh"), str(broker_port), d], env=env, check=True)
        proxy = subprocess.Popen([sys.executable, str(here / "capture_proxy.py"), str(proxy_port), str(broker_port),
                                  str(out), "setup"])
        try:
            harness.wait_until(lambda: _answers(bootstrap), timeout_s=30, what="proxy up")
            drive(bootstrap, cp, out)
        finally:
            proxy.terminate()
            proxy.wait(10)
            subprocess.run([str(here / "run-reference-kafka.sh"), "stop", d], check=False)


def _answers(bootstrap: str) -> bool:
    import kafka_wire
    return kafka_wire.broker_answers(bootstrap)


def label(out: Path, text: str) -> None:
    Path(str(out) + ".label").write_text(text)
    time.sleep(0.2)  # the proxy reads the label per connection: tools open new ones


def tool(cp: str, main: str, *args: str, stdin: str | None = None) -> str:
    proc = harness.run_java_tool(cp, main, *args, stdin=stdin, timeout_s=120)
    if proc.returncode != 0:
        print(f"{main} {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-2000:]}", file=sys.stderr)
    return proc.stdout


def drive(bs: str, cp: str, out: Path) -> None:
    topic, group, cgroup = "cap-admin", "cap-classic", "cap-consumer"
    label(out, "kafka-topics")
    tool(cp, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bs, "--create", "--topic", topic,
         "--partitions", "2", "--replication-factor", "1")
    label(out, "console-producer")
    tool(cp, "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", bs, "--topic", topic,
         stdin="".join(f"v{i}\n" for i in range(20)))
    # A classic consumer group commits; a second run resumes from the committed offsets, whose
    # leader epoch it validates first (OffsetForLeaderEpoch).
    for run in ("java-consumer-classic", "java-consumer-classic-resume"):
        label(out, run)
        tool(cp, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", bs, "--topic", topic,
             "--group", group, "--from-beginning", "--max-messages", "10", "--timeout-ms", "20000")
    label(out, "java-consumer-seek-with-epoch")
    # A seek to an offset with its leader epoch makes the Java consumer validate the position
    # (OffsetForLeaderEpoch) before fetching.
    script = f"""
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
var props = new java.util.Properties();
props.put("bootstrap.servers", "{bs}");
props.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
props.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
var c = new KafkaConsumer<byte[], byte[]>(props);
var tp = new TopicPartition("{topic}", 0);
c.assign(java.util.List.of(tp));
c.seek(tp, new OffsetAndMetadata(1, java.util.Optional.of(0), ""));
for (int i = 0; i < 20 && c.poll(java.time.Duration.ofMillis(500)).isEmpty(); i++) {{}}
c.close();
/exit
"""
    subprocess.run(["jshell", "--class-path", cp, "-q", "-"], input=script, text=True, capture_output=True,
                   timeout=180)
    label(out, "java-consumer-kip848")
    tool(cp, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", bs, "--topic", topic,
         "--group", cgroup, "--from-beginning", "--max-messages", "20", "--timeout-ms", "20000",
         "--consumer-property", "group.protocol=consumer")
    label(out, "kafka-consumer-groups")
    tool(cp, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", bs, "--list")
    tool(cp, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", bs, "--describe",
         "--group", group)
    tool(cp, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", bs, "--describe",
         "--group", cgroup)
    tool(cp, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", bs,
         "--delete-offsets", "--group", group, "--topic", f"{topic}:1")
    tool(cp, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", bs, "--delete",
         "--group", group)
    label(out, "kafka-delete-records")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write('{"partitions": [{"topic": "%s", "partition": 0, "offset": 2}], "version": 1}' % topic)
    tool(cp, "org.apache.kafka.tools.DeleteRecordsCommand", "--bootstrap-server", bs, "--offset-json-file", f.name)
    os.unlink(f.name)
    label(out, "kafka-configs")
    tool(cp, "kafka.admin.ConfigCommand", "--bootstrap-server", bs, "--alter", "--entity-type", "topics",
         "--entity-name", topic, "--add-config", "retention.ms=86400000")
    label(out, "kafka-transactions")
    tool(cp, "org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server", bs, "describe-producers",
         "--topic", topic, "--partition", "0")
    label(out, "kafka-python-admin")
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType
    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        admin.list_consumer_groups()
        admin.describe_consumer_groups([cgroup])
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "172800000"})])
    finally:
        admin.close()


if __name__ == "__main__":
    main()
