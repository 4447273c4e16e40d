"""KIP-368 re-authentication with connections.max.reauth.ms: the broker tells each SASL session
its lifetime (SaslAuthenticate v1+), a client that supports re-authentication (the Java client)
re-authenticates on the same connection and keeps producing without losing a record, and a
connection whose session expired without re-authenticating is closed at its next request.

A one-node cluster (cluster_harness), so GREGOR_CLUSTER_IMPL=kafka runs the same file against
Apache Kafka 4.3.1 configured the same way."""
from __future__ import annotations

import struct
import time

import pytest

import cluster_harness as ch
import harness
import kafka_wire as kw
from test_sasl import LISTENER, SASL_CONFIG, command_config

pytestmark = [pytest.mark.cluster]

REAUTH_MS = 3000
SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36


@pytest.fixture(scope="module")
def reauth_node(tmp_path_factory):
    yield from ch.module_cluster(tmp_path_factory.mktemp("sasl-reauth"), nodes=1,
                                 extra_listeners={LISTENER: "SASL_PLAINTEXT"},
                                 extra_config={**SASL_CONFIG, "connections.max.reauth.ms": str(REAUTH_MS),
                                               "offsets.topic.replication.factor": "1"})


@pytest.fixture
def reauth_bootstrap(reauth_node) -> str:
    reauth_node.mark_logs()
    return reauth_node.nodes[1].bootstrap_for(LISTENER)


def _plain_login(sock, user: str, password: str) -> int:
    """SaslHandshake v1 (PLAIN) + SaslAuthenticate v1; returns the session lifetime the broker gave."""
    sock.sendall(kw.request(SASL_HANDSHAKE, 1, 1, kw.encode_string("PLAIN")))
    hs = kw.read_response(sock)
    assert hs is not None, "no SaslHandshake answer"
    (error,) = struct.unpack(">h", hs[4:6])
    assert error == 0, f"SaslHandshake error {error}"
    token = b"\0" + user.encode() + b"\0" + password.encode()
    sock.sendall(kw.request(SASL_AUTHENTICATE, 1, 2, struct.pack(">i", len(token)) + token))
    auth = kw.read_response(sock)
    assert auth is not None, "no SaslAuthenticate answer"
    r = kw.reader(auth[4:])
    error = r.take(">h")
    message = r.string()
    assert error == 0, f"SaslAuthenticate error {error}: {message}"
    n = r.take(">i")
    if n > 0:
        r.take(f">{n}s")
    lifetime = r.take(">q")
    return lifetime


def test_the_session_lifetime_is_told_and_an_expired_session_is_closed(reauth_bootstrap):
    with kw.connect(reauth_bootstrap) as s:
        lifetime = _plain_login(s, "admin", "admin-secret")
        assert 0 < lifetime <= REAUTH_MS, lifetime
        # Within the session: served.
        s.sendall(kw.metadata_request_v1(3, []))
        assert kw.read_response(s) is not None, "Metadata refused inside the session"
        # The session's end is a point in time: wait past it, then the next request closes the connection.
        time.sleep(lifetime / 1000 + 0.5)
        s.sendall(kw.metadata_request_v1(4, []))
        assert kw.wait_closed(s), "a request after the session expired was served"


@pytest.mark.timeout(240)
def test_the_java_client_reauthenticates_and_loses_nothing(reauth_node, reauth_bootstrap, tmp_path, kafka_classpath):
    topic = harness.unique_topic("reauth")
    props = command_config(tmp_path, "PLAIN", "admin", "admin-secret")
    records = 120
    # About 8 s at 15 records/s: each connection outlives several 3 s sessions.
    out = harness.ok(harness.run_java_tool(
        kafka_classpath, "org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records",
        str(records), "--throughput", "15", "--record-size", "100", "--producer.config", props,
        "--producer-props", f"bootstrap.servers={reauth_bootstrap}", "acks=all", timeout_s=180))
    assert f"{records} records sent" in out, out
    proc = harness.run_java_tool(
        kafka_classpath, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", reauth_bootstrap,
        "--topic", topic, "--from-beginning", "--max-messages", str(records), "--timeout-ms", "60000",
        "--command-config", props, timeout_s=120)
    consumed = harness.ok(proc)
    assert len([line for line in consumed.splitlines() if line]) == records, (
        proc.stderr[-4000:] + "\n" + reauth_node.logs_report(20000))
    if reauth_node.impl_name == "gregor":
        log = reauth_node.nodes[1].stderr_tail(2_000_000)
        assert log.count("re-authenticated as User:admin (PLAIN)") >= 2, log[-4000:]
        assert "expired (connections.max.reauth.ms)" not in log, "a Java client's session expired"
