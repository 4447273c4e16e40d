"""Proves that Gregor's cluster metadata log is Kafka's: Kafka 4.3.1's own DumpLogSegments (with the
cluster metadata decoder) decodes every record of a log and a snapshot our code wrote, and our code
reads the __cluster_metadata-0 directory a real Kafka wrote (log and, when Kafka took one, snapshot)
into an image holding the topic created there. The C++ side runs as controller_tests' kafka_interop
tests (tests/unit/controller/kafka_interop_test.cc), driven by environment variables."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.java

DUMP = "org.apache.kafka.tools.DumpLogSegments"
TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"


def controller_tests() -> Path:
    path = Path(os.environ.get("GREGOR_CONTROLLER_TESTS", harness.gregor_binary().parent / "controller_tests"))
    if not path.exists():
        pytest.skip(f"{path} is not built (ninja controller_tests)")
    return path


def run_interop(test: str, env: dict[str, str]) -> str:
    proc = subprocess.run([str(controller_tests()), f"--gtest_filter=kafka_interop.{test}"],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "[  PASSED  ] 1 test" in out, out  # run, not skipped
    return out


def dump(kafka_classpath: str, *files: Path) -> str:
    out = harness.ok(harness.run_java_tool(kafka_classpath, DUMP, "--cluster-metadata-decoder",
                                           "--files", ",".join(str(f) for f in files)))
    assert "isvalid: false" not in out, out
    assert "Exception" not in out and "Error" not in out, out
    return out


def test_kafkas_dump_tool_decodes_the_metadata_log_and_snapshot_we_write(tmp_path, kafka_classpath):
    run_interop("writes_a_metadata_dir_for_kafkas_tools", {"GREGOR_INTEROP_WRITE_DIR": str(tmp_path)})
    meta = tmp_path / "__cluster_metadata-0"
    expected = (tmp_path / "expected.txt").read_text().split("\n")
    topics = [line.split()[1:] for line in expected if line.startswith("topic ")]
    snapshot = meta / next(line.split()[1] for line in expected if line.startswith("snapshot "))
    segment = meta / "00000000000000000000.log"

    log_out = dump(kafka_classpath, segment)
    assert "LeaderChange:" in log_out and '"leaderId":1' in log_out, log_out
    assert '"name":"metadata.version","featureLevel":30' in log_out, log_out
    for name, topic_id, parts in topics:
        assert f'"type":"TOPIC_RECORD","version":0,"data":{{"name":"{name}","topicId":"{topic_id}"}}' in log_out, log_out
        partitions = re.findall(r'"type":"PARTITION_RECORD".*?"partitionId":(\d+),"topicId":"' + re.escape(topic_id) + '"',
                                log_out)
        assert sorted(int(p) for p in partitions) == list(range(int(parts))), (name, partitions)
    assert '"resourceType":2,"resourceName":"interop-alpha","name":"retention.ms","value":"123456"' in log_out
    assert '"resourceType":4,"resourceName":"","name":"log.retention.ms","value":"5000"' in log_out
    assert '"type":"PRODUCER_IDS_RECORD"' in log_out and '"nextProducerId":1000' in log_out
    # Every record we wrote was decoded: as many payload lines as records in the batches.
    counts = sum(int(c) for c in re.findall(r"^baseOffset: \d+ lastOffset: \d+ count: (\d+)", log_out, re.M))
    decoded = len(re.findall(r"^\| offset: \d+ .*(payload: \{\"type\"|LeaderChange: )", log_out, re.M))
    assert decoded == counts, log_out

    snap_out = dump(kafka_classpath, snapshot)
    assert "SnapshotHeader" in snap_out and "SnapshotFooter" in snap_out, snap_out
    end, epoch = snapshot.name.removesuffix(".checkpoint").split("-")
    assert f"Snapshot end offset: {int(end)}, epoch: {int(epoch)}" in snap_out, snap_out
    for name, topic_id, _ in topics:
        if name == "interop-gamma":  # created after the snapshot
            assert topic_id not in snap_out
        else:
            assert f'"name":"{name}","topicId":"{topic_id}"' in snap_out, snap_out

    state = json.loads((meta / "quorum-state").read_text())
    assert state["leaderId"] == 1 and state["leaderEpoch"] >= 1 and state["data_version"] == 1, state
    assert (meta / "leader-epoch-checkpoint").read_text().split("\n")[:2] == ["0", "1"]


def test_our_code_reads_the_metadata_log_kafka_writes(tmp_path, kafka_classpath):
    port = harness.free_port()
    kafka_dir = tmp_path / "kafka"
    run = harness.TOOLS_DIR / "run-reference-kafka.sh"
    env = {**os.environ,
           # Ask for a snapshot soon, so Kafka's snapshot files are read too when it takes one.
           "KAFKA_EXTRA_PROPS": "metadata.log.max.snapshot.interval.ms=1000"}
    started = subprocess.run([str(run), str(port), str(kafka_dir)], env=env, capture_output=True, text=True,
                             timeout=280)
    assert started.returncode == 0, started.stdout + started.stderr
    topic = harness.unique_topic("metalog")
    meta = kafka_dir / "data" / "__cluster_metadata-0"
    try:
        harness.ok(harness.run_java_tool(kafka_classpath, TOPIC_COMMAND, "--bootstrap-server", f"127.0.0.1:{port}",
                                         "--create", "--topic", topic, "--partitions", "3"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(p.name.endswith(".checkpoint") for p in meta.iterdir()):
            time.sleep(0.3)
    finally:
        subprocess.run([str(run), "stop", str(kafka_dir)], capture_output=True, text=True, timeout=60)
    copy = tmp_path / "copy"
    shutil.copytree(meta, copy)  # our open may cut or rewrite files: never touch Kafka's own
    out = run_interop("reads_a_metadata_dir_written_by_kafka",
                      {"GREGOR_INTEROP_READ_DIR": str(copy), "GREGOR_INTEROP_EXPECT_TOPIC": topic,
                       "GREGOR_INTEROP_EXPECT_PARTITIONS": "3"})
    assert f"topic {topic} " in out, out
