"""Proves that the official Java clients (tests/java, JUnit 5 via Maven, run offline in one JVM
batch) and Apache Kafka's own CLI tools (TopicCommand, ConsoleProducer, ConsoleConsumer) work
against the broker."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

import clients
import harness

pytestmark = pytest.mark.java

JAVA_PROJECT = harness.REPO_ROOT / "tests" / "java"


def _mvn_test(bootstrap: str, offline: bool) -> subprocess.CompletedProcess:
    # Gregor serves InitProducerId and checks sequences (issue 7): the default (idempotent) Java
    # producer runs unless GREGOR_IDEMPOTENCE=0 turns it off.
    idempotence = "false" if os.environ.get("GREGOR_IDEMPOTENCE") == "0" else "true"
    cmd = ["mvn", "-B", "-q", "-f", str(JAVA_PROJECT / "pom.xml"), "test",
           f"-Dbootstrap={bootstrap}", f"-Dtest.idempotence={idempotence}"]
    if offline:
        cmd.insert(1, "-o")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=280)


@pytest.mark.timeout(300)
def test_java_clients_pass_their_junit_suite(bootstrap):
    if shutil.which("mvn") is None:
        pytest.fail("mvn not installed")
    proc = _mvn_test(bootstrap, offline=True)
    reports = JAVA_PROJECT / "target" / "surefire-reports"
    if proc.returncode != 0 and not reports.exists():
        # Offline resolution failed (cold ~/.m2): resolve once online.
        proc = _mvn_test(bootstrap, offline=False)
    summary = []
    for xml in sorted(reports.glob("TEST-*.xml")) if reports.exists() else []:
        suite = ET.parse(xml).getroot()
        summary.append(f"{suite.get('name')}: tests={suite.get('tests')} failures={suite.get('failures')} "
                       f"errors={suite.get('errors')} skipped={suite.get('skipped')}")
    assert proc.returncode == 0, ("mvn test failed:\n" + "\n".join(summary) + "\n--- stdout ---\n"
                                  + proc.stdout[-15000:] + "\n--- stderr ---\n" + proc.stderr[-5000:])
    assert summary, "surefire wrote no report"
    print("\n".join(summary))


run_tool = harness.run_java_tool
check = harness.ok


@pytest.mark.timeout(300)
def test_kafka_cli_tools_create_describe_produce_consume_and_delete(bootstrap, kafka_classpath):
    topic = harness.unique_topic("cli")
    topics = "org.apache.kafka.tools.TopicCommand"
    check(run_tool(kafka_classpath, topics, "--bootstrap-server", bootstrap, "--create", "--topic", topic,
                   "--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=3600000"))
    clients.wait_for_topic(bootstrap, topic, 3)

    listed = check(run_tool(kafka_classpath, topics, "--bootstrap-server", bootstrap, "--list"))
    assert topic in listed.split()

    described = check(run_tool(kafka_classpath, topics, "--bootstrap-server", bootstrap, "--describe",
                               "--topic", topic))
    assert f"Topic: {topic}" in described and "PartitionCount: 3" in described
    assert "retention.ms=3600000" in described
    assert sum(1 for line in described.splitlines() if "Partition: " in line and "Leader: 1" in line) == 3

    lines = [f"k{i}:line {i}" for i in range(10)]
    check(run_tool(kafka_classpath, "org.apache.kafka.tools.ConsoleProducer",
                   "--bootstrap-server", bootstrap, "--topic", topic,
                   "--producer-property", "enable.idempotence=false",
                   "--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
                   stdin="\n".join(lines) + "\n"))

    # ConsoleProducer partitions by key: read the fullest partition, exactly as many as it holds.
    c = clients.consumer(bootstrap)
    try:
        counts = {p: c.get_watermark_offsets(clients.TopicPartition(topic, p), timeout=10)[1] for p in range(3)}
    finally:
        c.close()
    assert sum(counts.values()) == 10, counts
    partition = max(counts, key=counts.get)
    consumed = check(run_tool(kafka_classpath, "org.apache.kafka.tools.consumer.ConsoleConsumer",
                              "--bootstrap-server", bootstrap, "--topic", topic, "--partition", str(partition),
                              "--offset", "earliest", "--max-messages", str(counts[partition]),
                              "--timeout-ms", "30000",
                              "--formatter-property", "print.key=true",
                              "--formatter-property", "key.separator=:"))
    got = consumed.splitlines()
    assert len(got) == counts[partition]
    assert got == [line for line in lines if line in got], "order within a partition must be kept"

    check(run_tool(kafka_classpath, topics, "--bootstrap-server", bootstrap, "--delete", "--topic", topic))
    a = clients.admin(bootstrap)
    harness.wait_until(lambda: topic not in a.list_topics(timeout=10).topics, what=f"{topic} deleted")


@pytest.mark.timeout(180)
def test_kafka_features_tool_describes_the_supported_and_finalized_features(bootstrap, kafka_classpath):
    """`kafka-features.sh describe` (Admin.describeFeatures: ApiVersions v3's tagged feature fields)."""
    out = check(run_tool(kafka_classpath, "org.apache.kafka.tools.FeatureCommand",
                         "--bootstrap-server", bootstrap, "describe"))
    features = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+):\s+(\S+)", line))
        if "Feature" in fields:
            features[fields["Feature"]] = fields
    assert "metadata.version" in features, out
    mv = features["metadata.version"]
    # Kafka 4.x supports metadata.version from 3.3-IV3 on, and a new cluster is finalized at a
    # 4.x level (the tool prints levels as release names).
    assert mv["SupportedMinVersion"] == "3.3-IV3", out
    assert mv["FinalizedVersionLevel"].startswith("4."), out
    assert int(mv["Epoch"]) >= 0, out
    assert features.get("kraft.version", {}).get("SupportedMaxVersion") == "1", out
    assert features.get("group.version", {}).get("SupportedMaxVersion") == "1", out
    # Transactions with KIP-890 part 2, which a new Kafka 4.x cluster is finalized at.
    tv = features.get("transaction.version", {})
    assert tv.get("SupportedMaxVersion") == "2" and tv.get("FinalizedVersionLevel") == "2", out
