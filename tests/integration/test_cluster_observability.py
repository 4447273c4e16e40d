"""A 3-node cluster can be watched from outside: every node's /metrics agrees on one quorum leader
(which alone reports the voters' lag and an active controller), and `gregor cluster info` names the
leader, the three voters and each broker's fenced state. Replication is visible too: Kafka's
`kafka-log-dirs.sh` lists every replica on every broker with the same size once followers caught up,
`gregor topic describe` shows leader, replicas, ISR and each follower's lag, and /metrics reports
under-replicated, under-min-ISR and (on the active controller) offline partitions, ISR shrinks and
expansions on leaders and each follower's lag, through a broker stopping and coming back.

Runs unless GREGOR_CLUSTER_TESTS=0; with GREGOR_CLUSTER_IMPL=kafka the CLI and log-dirs tests run
against Apache Kafka 4.3.1 (Kafka has no /metrics of ours, so the metrics tests skip).
"""
from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

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


# ---- replication: kafka-log-dirs, gregor topic describe, replication metrics

LOG_DIRS_TOOL = "org.apache.kafka.tools.LogDirsCommand"


def create_replicated_topic(cluster, topic: str, partitions: int, replication_factor: int,
                            config: dict | None = None) -> dict[int, ch.partition_info]:
    """Creates the topic and waits until every partition has a leader and a full ISR."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    futures = admin.create_topics([NewTopic(topic, partitions, replication_factor, config=config or {})])
    futures[topic].result(60)

    def in_sync():
        t = ch.metadata(cluster.brokers[0].bootstrap, [topic]).topics.get(topic)
        if t is None or t.error_code != 0 or len(t.partitions) != partitions:
            return None
        if not all(p.leader >= 0 and len(p.isr) == replication_factor for p in t.partitions):
            return None
        return {p.partition: p for p in t.partitions}

    return ch.wait_for(in_sync, 60, f"{topic} with a leader and a full ISR everywhere")


def produce_to_each_partition(bootstrap: str, topic: str, partitions: int, records: int, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    errors = []
    for p in range(partitions):
        for _ in range(records):
            producer.produce(topic, value=value, partition=p,
                             on_delivery=lambda err, msg: errors.append(err) if err else None)
            producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors


def log_dirs(classpath: str, bootstrap: str, topic: str) -> dict[int, dict[str, int]]:
    """{broker: {"topic-partition": size}} from kafka-log-dirs.sh --describe (every broker)."""
    out = harness.ok(harness.run_java_tool(classpath, LOG_DIRS_TOOL, "--bootstrap-server", bootstrap,
                                           "--describe", "--topic-list", topic))
    described = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    sizes: dict[int, dict[str, int]] = {}
    for b in described["brokers"]:
        for d in b["logDirs"]:
            assert d["error"] is None and d["logDir"].startswith("/"), b
            for p in d["partitions"]:
                assert p["offsetLag"] == 0 and p["isFuture"] is False, p
                sizes.setdefault(b["broker"], {})[p["partition"]] = p["size"]
    return sizes


def test_log_dirs_tool_lists_every_replica_with_equal_sizes_once_caught_up(cluster, kafka_classpath):
    topic = harness.unique_topic("logdirs")
    create_replicated_topic(cluster, topic, 3, 3)
    names = {f"{topic}-{p}" for p in range(3)}
    before = log_dirs(kafka_classpath, cluster.bootstrap(), topic)
    assert set(before) == cluster.broker_ids, before
    assert all(set(parts) == names for parts in before.values()), before

    produce_to_each_partition(cluster.bootstrap(), topic, 3, 40, b"v" * 250)

    def caught_up():
        sizes = log_dirs(kafka_classpath, cluster.bootstrap(), topic)
        # Followers append the leader's batches verbatim: every replica of a partition has the same
        # bytes once it caught up, and each holds at least what was produced.
        if set(sizes) != cluster.broker_ids or any(set(parts) != names for parts in sizes.values()):
            return None
        for name in names:
            per_broker = {sizes[b][name] for b in sizes}
            if len(per_broker) != 1 or per_broker.pop() < 40 * 250:
                return None
        return sizes

    sizes = ch.wait_for(caught_up, 60, "every replica of every partition at the same, grown size", interval_s=1)
    print(f"replica sizes: {sizes}")
    for b, parts in sizes.items():
        for name, size in parts.items():
            assert size > before[b][name], (b, name, before, sizes)


def test_topic_describe_shows_leader_replicas_isr_and_follower_lag(cluster):
    topic = harness.unique_topic("describe")
    expected = create_replicated_topic(cluster, topic, 2, 3)
    produce_to_each_partition(cluster.bootstrap(), topic, 2, 25, b"x" * 100)

    def settled():
        out = json.loads(gregor_cli("topic", "describe", topic, "-b", cluster.bootstrap(), "--format", "json"))
        rows = out["partitions"]
        if len(rows) != 2 or any(r["log_end_offset"] != 25 or r["lag"] != 0 for r in rows):
            return None
        return rows

    rows = ch.wait_for(settled, 60, "both partitions at 25 records, followers caught up", interval_s=1)
    for r in rows:
        p = expected[r["partition"]]
        assert r["topic"] == topic
        assert r["leader"] == p.leader, (r, p)
        assert sorted(int(x) for x in str(r["replicas"]).split(",")) == sorted(p.replicas), r
        assert sorted(int(x) for x in str(r["isr"]).split(",")) == sorted(p.replicas), r
        followers = {int(b): int(lag) for b, lag in (cell.split(":") for cell in r["replica_lag"].split(","))}
        assert followers == {b: 0 for b in p.replicas if b != p.leader}, r

    text = gregor_cli("topic", "describe", topic, "-b", cluster.bootstrap())
    print(text)
    assert "LOG_END_OFFSET" in text and "REPLICA_LAG" in text, text


def scrape_all(cluster) -> dict[int, dict]:
    return {n.node_id: scrape(n.host, n.http_port) for n in cluster.nodes.values() if n.running()}


def total(pages: dict[int, dict], name: str, nodes) -> float:
    return sum(value(pages[i], name) or 0 for i in nodes)


def test_replication_metrics_follow_a_broker_stopping_and_coming_back(cluster):
    if cluster.impl_name == "kafka":
        pytest.skip("Kafka has no gregor_* metrics")
    topic = harness.unique_topic("replmetrics")
    # min.insync.replicas = RF: losing one replica puts a partition under min ISR too.
    parts = create_replicated_topic(cluster, topic, 3, 3, {"min.insync.replicas": "3"})
    rf1 = harness.unique_topic("rf1")
    rf1_parts = create_replicated_topic(cluster, rf1, 3, 1)
    produce_to_each_partition(cluster.bootstrap(), topic, 3, 10, b"m" * 50)

    def healthy():
        pages = scrape_all(cluster)
        lags = {(i, dict(labels)["partition"]): v for i, s in pages.items() for (name, labels), v in s.items()
                if name == "gregor_replica_lag_messages" and dict(labels)["topic"] == topic}
        followers = {(b, str(p)) for p, info in parts.items() for b in info.replicas if b != info.leader}
        if set(lags) != followers or any(v != 0 for v in lags.values()):
            return None
        if total(pages, "gregor_under_replicated_partitions", pages) != 0:
            return None
        return pages

    pages = ch.wait_for(healthy, 60, "followers reporting lag 0, no under-replicated partition")
    for i, s in pages.items():
        assert value(s, "gregor_under_min_isr_partitions") == 0, i
        assert value(s, "gregor_isr_shrinks_total") is not None and value(s, "gregor_isr_expands_total") is not None
    reporters = [i for i, s in pages.items() if value(s, "gregor_offline_partitions") is not None]
    assert len(reporters) == 1 and value(pages[reporters[0]], "gregor_controller_active") == 1, reporters
    assert value(pages[reporters[0]], "gregor_offline_partitions") == 0

    # Stop a broker that leads at least one RF-1 partition but not the quorum: its RF-1 partitions
    # go offline, the RF-3 partitions led by the others shrink their ISR below min ISR.
    quorum_leader = cluster.quorum().leader_id
    victim = next(b for b in sorted(cluster.broker_ids)
                  if b != quorum_leader and any(p.leader == b for p in rf1_parts.values()))
    stayers = cluster.broker_ids - {victim}
    led_by_stayers = [p for p in parts.values() if p.leader != victim]
    # Every partition (of any topic of this cluster) whose only replica is the victim goes offline.
    everything = ch.metadata(cluster.nodes[quorum_leader].bootstrap).topics.values()
    offline_expected = sum(1 for t in everything for p in t.partitions if p.replicas == [victim])
    assert offline_expected >= 1
    assert led_by_stayers, parts
    shrinks_before = total(pages, "gregor_isr_shrinks_total", stayers)
    expands_before = total(pages, "gregor_isr_expands_total", stayers)
    cluster.terminate_node(victim)

    def degraded():
        pages = scrape_all(cluster)
        if total(pages, "gregor_under_replicated_partitions", stayers) < len(led_by_stayers):
            return None
        if total(pages, "gregor_under_min_isr_partitions", stayers) < len(led_by_stayers):
            return None
        if total(pages, "gregor_isr_shrinks_total", stayers) < shrinks_before + len(led_by_stayers):
            return None
        offline = [value(s, "gregor_offline_partitions") for s in pages.values()
                   if value(s, "gregor_controller_active") == 1]
        if offline != [offline_expected]:
            return None
        return pages

    ch.wait_for(degraded, 90, f"broker {victim} out of every ISR, its RF-1 partitions offline", interval_s=0.5)

    cluster.start_node(victim)

    def recovered():
        pages = scrape_all(cluster)
        if len(pages) != 3 or total(pages, "gregor_under_replicated_partitions", pages) != 0:
            return None
        if total(pages, "gregor_under_min_isr_partitions", pages) != 0:
            return None
        if total(pages, "gregor_isr_expands_total", stayers) < expands_before + len(led_by_stayers):
            return None
        offline = [value(s, "gregor_offline_partitions") for s in pages.values()
                   if value(s, "gregor_controller_active") == 1]
        return pages if offline == [0] else None

    ch.wait_for(recovered, 120, f"broker {victim} back in every ISR, nothing offline", interval_s=0.5)
