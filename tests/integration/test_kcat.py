"""Proves that kcat (librdkafka's command-line client) can produce keyed messages, consume them back
with its format string, and list metadata against the broker."""
from __future__ import annotations

import json
import subprocess

import clients
import harness


def kcat(*args: str, stdin: str | None = None, timeout_s: float = 60) -> str:
    proc = subprocess.run(["kcat", *args], input=stdin, capture_output=True, text=True, timeout=timeout_s)
    assert proc.returncode == 0, f"kcat {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


def test_kcat_produce_then_consume_with_format(bootstrap):
    topic = harness.unique_topic("kcat")
    clients.create_topic(bootstrap, topic)
    lines = [f"key{i}:value {i}" for i in range(25)]
    kcat("-b", bootstrap, "-P", "-t", topic, "-K:", stdin="\n".join(lines) + "\n")
    out = kcat("-b", bootstrap, "-C", "-e", "-t", topic, "-f", "%k %s\n")
    assert out.splitlines() == [f"key{i} value {i}" for i in range(25)]


def test_kcat_consume_with_offsets_and_partition_format(bootstrap):
    topic = harness.unique_topic("kcat-off")
    clients.create_topic(bootstrap, topic)
    kcat("-b", bootstrap, "-P", "-t", topic, stdin="a\nb\nc\n")
    out = kcat("-b", bootstrap, "-C", "-e", "-t", topic, "-o", "1", "-f", "%p:%o:%s\n")
    assert out.splitlines() == ["0:1:b", "0:2:c"]


def test_kcat_lists_broker_and_topic_metadata(bootstrap):
    topic = harness.unique_topic("kcat-md")
    clients.create_topic(bootstrap, topic, partitions=3)
    md = json.loads(kcat("-b", bootstrap, "-L", "-J", "-t", topic))
    host, port = bootstrap.rsplit(":", 1)
    assert any(b["name"] == f"{host}:{port}" for b in md["brokers"]), md["brokers"]
    (t,) = [t for t in md["topics"] if t["topic"] == topic]
    assert len(t["partitions"]) == 3
    assert all(p["leader"] == md["brokers"][0]["id"] for p in t["partitions"])
    text = kcat("-b", bootstrap, "-L")
    assert "1 brokers:" in text and topic in text
