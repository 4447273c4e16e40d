"""A 3-node cluster can be watched from outside: every node's /metrics agrees on one quorum leader
(which alone reports the voters' lag and an active controller), and `gregor cluster info` names the
leader, the three voters and each broker's fenced state.

Runs only with GREGOR_CLUSTER_TESTS=1; with GREGOR_CLUSTER_IMPL=kafka the CLI test runs the gregor
CLI against Apache Kafka 4.3.1 (Kafka has no /metrics of ours, so the metrics test skips).
"""
from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pytest

import cluster_harness as ch
import harness

pytestmark = [pytest.mark.cluster]

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$')


def scrape(host: str, port: int) -> dict[tuple[str, frozenset], float]:
    """{(name, labels): value} of a Prometheus text page."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def gregor_cli(*args: str) -> str:
    p = subprocess.run([str(harness.gregor_binary()), *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"gregor {' '.join(args)} failed ({p.returncode}):\n{p.stderr}"
    return p.stdout


def test_every_node_metrics_agree_on_one_quorum_leader(cluster):
    if cluster.impl_name == "kafka":
        pytest.skip("Kafka has no gregor_* metrics")

    def lag_voters(samples: dict) -> set[str]:
        return {dict(labels)["voter"] for (name, labels) in samples if name == "gregor_quorum_voter_lag"}

    def agreed():
        # Settled: one leader named by every node, active as controller, with every voter fetching.
        pages = {n.node_id: scrape(n.host, n.http_port) for n in cluster.nodes.values()}
        leaders = [i for i, s in pages.items() if value(s, "gregor_quorum_is_leader") == 1]
        named = {value(s, "gregor_quorum_leader_id") for s in pages.values()}
        if len(leaders) != 1 or named != {float(leaders[0])}:
            return None
        s = pages[leaders[0]]
        if value(s, "gregor_controller_active") != 1 or lag_voters(s) != {str(v) for v in cluster.voter_ids}:
            return None
        return leaders[0], pages

    leader, pages = ch.wait_for(agreed, 60, "exactly one node with gregor_quorum_is_leader 1, named by all")
    assert leader in cluster.voter_ids
    epochs = {value(s, "gregor_quorum_leader_epoch") for s in pages.values()}
    assert len(epochs) == 1 and epochs.pop() >= 1, pages
    for node_id, s in pages.items():
        assert value(s, "gregor_quorum_is_voter") == 1, node_id
        assert value(s, "gregor_controller_active") == (1 if node_id == leader else 0), node_id
        assert value(s, "gregor_metadata_applied_offset") > 0, node_id
        assert value(s, "gregor_quorum_high_watermark") <= value(s, "gregor_quorum_log_end_offset"), node_id
        assert value(s, "gregor_broker_epoch") >= 0, node_id
        assert value(s, "gregor_broker_fenced") == 0, node_id
        assert value(s, "gregor_cluster_brokers", state="unfenced") == len(cluster.broker_ids), node_id
        assert value(s, "gregor_cluster_brokers", state="fenced") == 0, node_id
        # Only the leader knows the others' log end offsets.
        if node_id != leader:
            assert lag_voters(s) == set(), node_id


def test_cluster_info_names_the_quorum_leader_and_three_voters(cluster):
    bootstrap = cluster.brokers[0].bootstrap

    def settled():
        # The quorum as the harness sees it, then the CLI's view; equal once nothing moves.
        q = cluster.quorum()
        out = json.loads(gregor_cli("cluster", "info", "-b", bootstrap, "--format", "json"))
        if "quorum" not in out or out["quorum"][0]["leader_id"] != q.leader_id:
            return None
        return q, out

    q, out = ch.wait_for(settled, 60, "gregor cluster info showing the quorum leader")
    assert q.leader_id in cluster.voter_ids
    quorum = out["quorum"][0]
    assert quorum["voters"] == 3, out
    assert quorum["leader_epoch"] >= 1 and quorum["high_watermark"] > 0, out
    voters = [r for r in out["replicas"] if r["role"] in ("leader", "follower")]
    assert {r["id"] for r in voters} == cluster.voter_ids, out
    assert [r["id"] for r in voters if r["role"] == "leader"] == [q.leader_id], out
    for r in voters:
        assert r["log_end_offset"] >= 0 and r["lag"] >= 0, r
    assert {b["id"] for b in out["brokers"]} == cluster.broker_ids, out
    assert all(b["fenced"] is False for b in out["brokers"]), out

    text = gregor_cli("cluster", "info", "-b", bootstrap)
    print(text)
    assert "LEADER_ID" in text and "LAST_FETCH_MS_AGO" in text, text
    rows = [line.split() for line in text.splitlines()]
    leader_rows = [r for r in rows if len(r) > 1 and r[1] == "leader"]
    assert [int(r[0]) for r in leader_rows] == [q.leader_id], text
    assert len([r for r in rows if len(r) > 1 and r[1] in ("leader", "follower")]) == 3, text
