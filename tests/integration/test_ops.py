"""Proves the operations surface: /metrics is valid Prometheus text whose counters move with
traffic, /health answers, SIGTERM under load exits 0 with every acknowledged record kept, the
effective config and debug request log are written, `gregor config check` validates files, and every
admin CLI subcommand works against the broker under test (Gregor, or Apache Kafka when
KAFKA_BOOTSTRAP is set)."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import broker_health
import clients
import harness

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- helpers

_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? '
    r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse_prometheus(text: str) -> dict[str, float]:
    """Strict-enough parser for the text format 0.0.4: returns 'name{labels}' → value and fails
    on any malformed line, a TYPE after samples of its family, or a duplicate TYPE."""
    samples: dict[str, float] = {}
    typed: set[str] = set()
    seen_families: set[str] = set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            assert len(parts) == 4, line
            assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert parts[2] not in typed, f"duplicate TYPE: {line}"
            assert parts[2] not in seen_families, f"TYPE after samples: {line}"
            typed.add(parts[2])
            continue
        assert not line.startswith("#"), line
        m = _SAMPLE.match(line)
        assert m, f"malformed sample line: {line!r}"
        name = m.group(1)
        seen_families.add(re.sub(r"_(bucket|sum|count)$", "", name))
        key = name + (m.group(2) or "")
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(m.group(5))
    return samples


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics(g) -> dict[str, float]:
    status, body = http_get(g.http_port, "/metrics")
    assert status == 200
    return parse_prometheus(body)


def cli(bootstrap: str, *args: str, stdin: str | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess:
    p = subprocess.run([str(harness.gregor_binary()), *args, "-b", bootstrap], input=stdin,
                       capture_output=True, text=True, timeout=timeout_s)
    broker_health.check_output(f"gregor {' '.join(args)}", p.stdout + p.stderr)
    return p


def cli_ok(bootstrap: str, *args: str, stdin: str | None = None) -> str:
    p = cli(bootstrap, *args, stdin=stdin)
    assert p.returncode == 0, f"gregor {' '.join(args)} failed ({p.returncode}):\n{p.stderr}"
    return p.stdout


def cli_json(bootstrap: str, *args: str, stdin: str | None = None):
    return json.loads(cli_ok(bootstrap, *args, "--format", "json", stdin=stdin))

# ---------------------------------------------------------------- metrics and health


@pytest.mark.gregor_only
def test_metrics_is_prometheus_text_and_counters_move_with_traffic(gregor_factory):
    g = gregor_factory()
    before = metrics(g)
    topic = harness.unique_topic("metrics")
    clients.create_topic(g.bootstrap, topic, partitions=2)
    clients.produce_all(g.bootstrap, topic, [{"value": b"v%d" % i, "partition": i % 2} for i in range(50)])
    after = metrics(g)
    assert after['gregor_requests_total{api="Produce"}'] > before.get('gregor_requests_total{api="Produce"}', 0)
    assert after[f'gregor_topic_records_in_total{{topic="{topic}"}}'] == 50
    assert after[f'gregor_topic_bytes_in_total{{topic="{topic}"}}'] > 0
    consumed = clients.consume_all(g.bootstrap, topic, partitions=2, expected=50)
    assert len(consumed) == 50
    after = metrics(g)
    assert after[f'gregor_topic_records_out_total{{topic="{topic}"}}'] >= 50
    assert after[f'gregor_topic_bytes_out_total{{topic="{topic}"}}'] >= \
        after[f'gregor_topic_bytes_in_total{{topic="{topic}"}}']
    assert after['gregor_request_latency_seconds_count{api="Produce"}'] >= 1
    assert after['gregor_request_latency_seconds_bucket{api="Produce",le="+Inf"}'] == \
        after['gregor_request_latency_seconds_count{api="Produce"}']
    assert after["gregor_network_bytes_in_total"] > before.get("gregor_network_bytes_in_total", 0)
    assert after["gregor_connections_accepted_total"] >= 1
    assert after["gregor_partitions"] >= 2
    sizes = [after[f'gregor_partition_log_size_bytes{{topic="{topic}",partition="{p}"}}'] for p in (0, 1)]
    assert all(s > 0 for s in sizes)
    assert after["process_resident_memory_bytes"] > 1e6
    assert "process_cpu_seconds_total" in after
    # The io thread's lateness, sampled every 50 ms since the start: counted, cumulative buckets.
    lag_count = after["gregor_io_loop_lag_seconds_count"]
    assert lag_count >= 1
    assert after['gregor_io_loop_lag_seconds_bucket{le="+Inf"}'] == lag_count
    assert after['gregor_io_loop_lag_seconds_bucket{le="0.0001"}'] <= after['gregor_io_loop_lag_seconds_bucket{le="5"}'] <= lag_count


@pytest.mark.gregor_only
def test_health_is_200_while_serving_and_unknown_paths_are_404(gregor_factory):
    g = gregor_factory()
    assert http_get(g.http_port, "/health") == (200, "serving\n")
    assert http_get(g.http_port, "/nope")[0] == 404


# ---------------------------------------------------------------- logging and config


@pytest.mark.gregor_only
def test_effective_config_is_logged_with_secrets_masked_and_debug_logs_requests(gregor_factory):
    g = gregor_factory({"log.level": "debug"})
    clients.create_topic(g.bootstrap, harness.unique_topic("log"))
    text = Path(g.stderr_path).read_text()
    assert "effective log.level=debug (set)" in text
    assert "effective num.partitions=1 (default)" in text
    assert re.search(r"\[request\] api=CreateTopics v=\d+ client=\S+ peer=127\.0\.0\.1:\d+ latency_us=\d+", text)


@pytest.mark.gregor_only
def test_config_check_accepts_the_sample_and_names_a_bad_key(tmp_path):
    ok = harness.run_gregor_once(["config", "check", str(REPO / "config" / "gregor.yaml")])
    assert ok.returncode == 0, ok.stderr
    assert "ok" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("log.dir.s: /tmp/x\n")
    p = harness.run_gregor_once(["config", "check", str(bad)])
    assert p.returncode == 2
    assert "log.dir.s" in p.stderr and "did you mean" in p.stderr
    p = harness.run_gregor_once(["config", "check", str(REPO / "config" / "gregor.yaml"),
                                 "--set", "num.partitions=abc"])
    assert p.returncode == 2 and "num.partitions" in p.stderr

# ---------------------------------------------------------------- graceful stop


@pytest.mark.gregor_only
def test_sigterm_under_load_exits_0_and_keeps_every_acked_record(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("sigterm")
    clients.create_topic(g.bootstrap, topic, partitions=3)
    acked: list[bytes] = []
    stop = threading.Event()

    def load():
        prod = clients.producer(g.bootstrap, **{"acks": "all", "linger.ms": 2, "retries": 0,
                                                 "message.timeout.ms": 5000})

        def on_delivery(err, msg):
            if err is None:
                acked.append(msg.value())
        i = 0
        while not stop.is_set():
            try:
                prod.produce(topic, value=b"rec-%d" % i, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            prod.poll(0.001 if i % 100 == 0 else 0)
        prod.flush(8)

    t = threading.Thread(target=load)
    t.start()
    harness.wait_until(lambda: len(acked) > 500, timeout_s=30, what="500 acked records")
    started = time.monotonic()
    g.proc.send_signal(signal.SIGTERM)
    code = g.proc.wait(timeout=20)
    elapsed = time.monotonic() - started
    stop.set()
    t.join(30)
    g.proc = None
    assert code == 0, f"exit code {code}; stderr:\n{g.stderr_tail()}"
    assert elapsed < 15, f"graceful stop took {elapsed:.1f}s"
    g.start()
    got = clients.consume_all(g.bootstrap, topic, partitions=[0, 1, 2], expected=len(acked))
    values = {m.value() for m in got}
    missing = [v for v in acked if v not in values]
    assert not missing, f"{len(missing)} acked records lost, e.g. {missing[:5]}"

# ---------------------------------------------------------------- admin CLI (Gregor or Kafka)


def test_cli_cluster_info_lists_the_brokers(bootstrap):
    out = cli_json(bootstrap, "cluster", "info")
    assert out["cluster"][0]["brokers"] >= 1
    assert out["brokers"] and all(b["port"] > 0 for b in out["brokers"])
    assert "CLUSTER_ID" in cli_ok(bootstrap, "cluster", "info")


def test_cli_topic_create_list_describe_alter_delete(bootstrap):
    topic = harness.unique_topic("cli")
    created = cli_json(bootstrap, "topic", "create", topic, "--partitions", "2", "--replication-factor", "1",
                       "--config", "retention.ms=3600000")
    assert created == [{"name": topic, "partitions": 2, "replication_factor": 1}]
    names = [t["name"] for t in cli_json(bootstrap, "topic", "list")]
    assert topic in names
    desc = cli_json(bootstrap, "topic", "describe", topic)
    assert [p["partition"] for p in desc["partitions"]] == [0, 1]
    # One replica each: the leader's log end offset, no follower to lag.
    assert all(p["log_end_offset"] == 0 and p["lag"] == 0 and p["replica_lag"] == "" for p in desc["partitions"])
    assert {"topic": topic, "name": "retention.ms", "value": "3600000", "source": "topic"} in desc["configs"]
    cli_ok(bootstrap, "topic", "alter", topic, "--partitions", "3", "--config", "cleanup.policy=compact")
    harness.wait_until(lambda: len(cli_json(bootstrap, "topic", "describe", topic)["partitions"]) == 3,
                       what="3 partitions")
    desc = cli_json(bootstrap, "topic", "describe", topic)
    assert any(c["name"] == "cleanup.policy" and c["value"] == "compact" for c in desc["configs"])
    cli_ok(bootstrap, "topic", "delete", topic)
    harness.wait_until(lambda: topic not in [t["name"] for t in cli_json(bootstrap, "topic", "list")],
                       what="topic gone")


def test_cli_errors_are_one_sentence_with_the_kafka_error_name(bootstrap):
    topic = harness.unique_topic("clierr")
    cli_ok(bootstrap, "topic", "create", topic)
    p = cli(bootstrap, "topic", "create", topic)
    assert p.returncode == 1
    assert "TOPIC_ALREADY_EXISTS" in p.stderr and p.stderr.count("\n") == 1
    p = cli(bootstrap, "topic", "describe", harness.unique_topic("missing"))
    assert p.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in p.stderr
    p = cli("127.0.0.1:1", "topic", "list")
    assert p.returncode == 1 and "cannot connect to 127.0.0.1:1" in p.stderr
    p = cli(bootstrap, "topic", "create", topic, "--partitions", "zero")
    assert p.returncode == 2 and "--partitions" in p.stderr


def test_cli_produce_then_consume_round_trips_keys_and_values(bootstrap):
    topic = harness.unique_topic("clidata")
    cli_ok(bootstrap, "topic", "create", topic, "--partitions", "3")
    lines = [f"k{i}:value {i}" for i in range(200)]
    out = cli_json(bootstrap, "produce", topic, "-K", ":", stdin="\n".join(lines) + "\n")
    assert sum(r["records"] for r in out) == 200
    got = cli_ok(bootstrap, "consume", topic, "-e", "-K", ":").splitlines()
    assert sorted(got) == sorted(lines)
    recs = [json.loads(l) for l in cli_ok(bootstrap, "consume", topic, "-e", "-p", "1", "-c", "5",
                                          "--format", "json").splitlines()]
    assert len(recs) == 5 and all(r["partition"] == 1 for r in recs)
    assert [r["offset"] for r in recs] == list(range(5))
    # A Kafka client sees what the CLI produced, keyed by the Java client's partitioner.
    msgs = clients.consume_all(bootstrap, topic, partitions=[0, 1, 2], expected=200)
    assert sorted(f"{m.key().decode()}:{m.value().decode()}" for m in msgs) == sorted(lines)
    # Keyed records land where the Java client's partitioner (librdkafka murmur2_random) puts them.
    ref = harness.unique_topic("clidataref")
    cli_ok(bootstrap, "topic", "create", ref, "--partitions", "3")
    delivered = clients.produce_all(bootstrap, ref, [{"key": f"k{i}".encode(), "value": b"x"} for i in range(200)],
                                    partitioner="murmur2_random")
    java_partition = {m.key(): m.partition() for m in delivered}
    assert {m.key(): m.partition() for m in msgs} == java_partition


def test_cli_group_list_describe_reset_offsets_delete(bootstrap):
    topic = harness.unique_topic("cligroup")
    group = harness.unique_topic("g")
    cli_ok(bootstrap, "topic", "create", topic)
    cli_ok(bootstrap, "produce", topic, stdin="".join(f"m{i}\n" for i in range(10)))
    c = clients.consumer(bootstrap, **{"group.id": group, "enable.auto.commit": False,
                                       "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 30
    while seen < 10 and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            seen += 1
    assert seen == 10
    c.commit(asynchronous=False)
    c.close()
    groups = [g["group"] for g in cli_json(bootstrap, "group", "list")]
    assert group in groups
    desc = cli_json(bootstrap, "group", "describe", group)
    assert desc["offsets"] == [{"topic": topic, "partition": 0, "committed_offset": 10,
                                "log_end_offset": 10, "lag": 0}]
    dry = cli_json(bootstrap, "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert dry == [{"topic": topic, "partition": 0, "new_offset": 0}]
    assert cli_json(bootstrap, "group", "describe", group)["offsets"][0]["committed_offset"] == 10
    cli_ok(bootstrap, "group", "reset-offsets", group, "--topic", topic, "--to-offset", "4", "--execute")
    desc = cli_json(bootstrap, "group", "describe", group)
    assert desc["offsets"][0]["committed_offset"] == 4 and desc["offsets"][0]["lag"] == 6
    cli_ok(bootstrap, "group", "delete", group)
    assert group not in [g["group"] for g in cli_json(bootstrap, "group", "list")]
