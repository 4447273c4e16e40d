"""Proves TLS listeners with real clients: kafka-python, confluent-kafka (librdkafka) and the Java
clients produce and consume over SSL (server certificate verified, host name checked), over mutual
TLS (a PKCS12 key store on that listener, client certificates required) and over SASL_SSL (PLAIN);
a client certificate from an untrusted CA, a client without a certificate and a plaintext client
are refused and the broker logs why. A 3-node cluster runs raft (mTLS) and replication over TLS.

Certificates are made at run time with the `openssl` CLI in a temporary directory.
TLS_REFERENCE_KAFKA=1 runs the client-facing tests against Apache Kafka instead
(tests/tools/run-reference-kafka.sh with the same two TLS listeners, PKCS12 key stores); the tests
that read Gregor's log or start Gregor are skipped then."""
from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError as KafkaPythonError
from kafka.errors import NoBrokersAvailable

import clients
import harness
import kafka_wire

import os

REFERENCE = os.environ.get("TLS_REFERENCE_KAFKA") == "1"
gregor_only = pytest.mark.skipif(REFERENCE, reason="Gregor's own log or process (TLS_REFERENCE_KAFKA=1)")
# Against KAFKA_BOOTSTRAP's plaintext broker the module has nothing to test (it starts its own).
pytestmark = [] if REFERENCE else [pytest.mark.gregor_only]

KEYSTORE_PASSWORD = "ks-secret"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" user_alice="alice-secret";')


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)


def _leaf(d: Path, name: str, subject: str, ca: str, san: str | None = None) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
             "-out", f"{name}.csr", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-extfile", ext.name, "-out", f"{name}.pem", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "rogue-ca")
    _leaf(d, "server", "/O=Example/CN=localhost", "ca", san="DNS:localhost,IP:127.0.0.1")
    _leaf(d, "alice", "/C=US/O=Example/OU=eng/CN=alice", "ca")
    _leaf(d, "mallory", "/CN=mallory", "rogue-ca")
    # PEM key store (key + chain in one file) and a PKCS12 one with a password.
    (d / "server-keystore.pem").write_text((d / "server.key").read_text() + (d / "server.pem").read_text())
    for name in ("server", "alice", "mallory"):
        _openssl("pkcs12", "-export", "-inkey", f"{name}.key", "-in", f"{name}.pem",
                 "-passout", f"pass:{KEYSTORE_PASSWORD}", "-out", f"{name}.p12", cwd=d)
    return d


class tls_broker:
    def __init__(self, plain: str, ssl_port: int, mtls_port: int, sasl_ssl_port: int, log_path: Path | None,
                 pid: int | None = None):
        self.pid = pid  # Gregor's process (None for the reference Kafka)
        self.plain = plain
        self.ssl = f"localhost:{ssl_port}"
        self.mtls = f"localhost:{mtls_port}"
        self.sasl_ssl = f"localhost:{sasl_ssl_port}"
        self.log_path = log_path

    def log(self) -> str:
        return harness.tail(self.log_path, 200000) if self.log_path else ""


def _tls_listener_configs(pki: Path, pem_on_ssl: bool) -> dict[str, str]:
    ssl_store = ({"listener.name.ssl.ssl.keystore.location": str(pki / "server-keystore.pem")} if pem_on_ssl else
                 {"listener.name.ssl.ssl.keystore.type": "PKCS12",
                  "listener.name.ssl.ssl.keystore.location": str(pki / "server.p12"),
                  "listener.name.ssl.ssl.keystore.password": KEYSTORE_PASSWORD})
    return {
        **ssl_store,
        "listener.name.mtls.ssl.keystore.type": "PKCS12",
        "listener.name.mtls.ssl.keystore.location": str(pki / "server.p12"),
        "listener.name.mtls.ssl.keystore.password": KEYSTORE_PASSWORD,
        "listener.name.mtls.ssl.truststore.type": "PEM",
        "listener.name.mtls.ssl.truststore.location": str(pki / "ca.pem"),
        "listener.name.mtls.ssl.client.auth": "required",
        # The client certificate's subject "CN=alice,OU=eng,O=Example,C=US" becomes User:alice.
        "listener.name.mtls.ssl.principal.mapping.rules": "RULE:^CN=([^,]+),.*$/$1/L,DEFAULT",
        # ACLs decide with the mapped principal; without ACLs on a resource everyone may use it.
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "true",
        # SASL_SSL: PLAIN over TLS (the PKCS12 key store, no client certificate).
        "listener.name.sasl_ssl.ssl.keystore.type": "PKCS12",
        "listener.name.sasl_ssl.ssl.keystore.location": str(pki / "server.p12"),
        "listener.name.sasl_ssl.ssl.keystore.password": KEYSTORE_PASSWORD,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
    }


@pytest.fixture(scope="module")
def broker_tls(tmp_path_factory, pki):
    port, ssl_port, mtls_port = harness.free_port(), harness.free_port(), harness.free_port()
    sasl_ssl_port = harness.free_port()
    if REFERENCE:
        d = tmp_path_factory.mktemp("kafka-tls")
        script = harness.REPO_ROOT / "tests" / "tools" / "run-reference-kafka.sh"
        env = dict(os.environ,
                   KAFKA_EXTRA_LISTENERS=(f"SSL:SSL://localhost:{ssl_port},MTLS:SSL://localhost:{mtls_port},"
                                          f"SASL_SSL:SASL_SSL://localhost:{sasl_ssl_port}"),
                   KAFKA_EXTRA_PROPS="\n".join(f"{k}={v}" for k, v in _tls_listener_configs(pki, False).items()))
        started = subprocess.run([str(script), str(port), str(d)], env=env, capture_output=True, text=True,
                                 timeout=300)
        assert started.returncode == 0, started.stderr
        try:
            yield tls_broker(f"127.0.0.1:{port}", ssl_port, mtls_port, sasl_ssl_port, None)
        finally:
            subprocess.run([str(script), "stop", str(d)], capture_output=True, timeout=120)
        return
    listeners = (f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port},MTLS://127.0.0.1:{mtls_port},"
                 f"SASL_SSL://127.0.0.1:{sasl_ssl_port}")
    advertised = (f"PLAINTEXT://127.0.0.1:{port},SSL://localhost:{ssl_port},MTLS://localhost:{mtls_port},"
                  f"SASL_SSL://localhost:{sasl_ssl_port}")
    proc = harness.gregor_process(tmp_path_factory.mktemp("gregor-tls"), port=port, extra_sets={
        "listeners": listeners,
        "advertised.listeners": advertised,
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "PLAINTEXT",
        # Gregor's bound on a started request or TLS handshake (Kafka has none: idle timeout only).
        "socket.partial.request.timeout.ms": "3000",
        **_tls_listener_configs(pki, True),
    })
    try:
        proc.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield tls_broker(proc.bootstrap, ssl_port, mtls_port, sasl_ssl_port, proc.stderr_path, proc.proc.pid)
    proc.stop()


def _kp_ssl(pki: Path, cert: str | None = None) -> dict:
    conf = {"security_protocol": "SSL", "ssl_cafile": str(pki / "ca.pem"), "ssl_check_hostname": True}
    if cert:
        conf.update(ssl_certfile=str(pki / f"{cert}.pem"), ssl_keyfile=str(pki / f"{cert}.key"))
    return conf


def _rd_ssl(pki: Path, cert: str | None = None) -> dict:
    conf = {"security.protocol": "SSL", "ssl.ca.location": str(pki / "ca.pem"),
            "ssl.endpoint.identification.algorithm": "https"}
    if cert:
        conf.update({"ssl.certificate.location": str(pki / f"{cert}.pem"),
                     "ssl.key.location": str(pki / f"{cert}.key")})
    return conf


def _kafka_python_round_trip(bootstrap: str, conf: dict, topic: str) -> list[bytes]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10000, **conf)
    try:
        for i in range(20):
            producer.send(topic, key=f"k{i}".encode(), value=(f"tls-{i}-" * 50).encode())
        producer.flush(timeout=15)
    finally:
        producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10000, enable_auto_commit=False, **conf)
    try:
        return [m.value for m in consumer]
    finally:
        consumer.close()


@pytest.mark.parametrize("listener", ["ssl", "mtls"])
def test_kafka_python_produces_and_consumes_over_tls(broker_tls, pki, listener):
    topic = harness.unique_topic(f"kp-{listener}")
    clients.create_topic(broker_tls.plain, topic)
    bootstrap = broker_tls.ssl if listener == "ssl" else broker_tls.mtls
    got = _kafka_python_round_trip(bootstrap, _kp_ssl(pki, "alice" if listener == "mtls" else None), topic)
    assert got == [(f"tls-{i}-" * 50).encode() for i in range(20)]


@pytest.mark.parametrize("listener", ["ssl", "mtls"])
def test_librdkafka_produces_and_consumes_over_tls(broker_tls, pki, listener):
    topic = harness.unique_topic(f"rd-{listener}")
    bootstrap = broker_tls.ssl if listener == "ssl" else broker_tls.mtls
    conf = _rd_ssl(pki, "alice" if listener == "mtls" else None)
    clients.create_topic(broker_tls.plain, topic, partitions=2)
    sent = [{"key": f"k{i}".encode(), "value": (f"v{i}" * 3000).encode(), "partition": i % 2}
            for i in range(40)]
    delivered = clients.produce_all(bootstrap, topic, sent, **conf, linger_ms=5)
    assert len(delivered) == 40
    got = clients.consume_all(bootstrap, topic, partitions=2, expected=40, **conf)
    assert sorted(m.value() for m in got) == sorted(s["value"] for s in sent)


def test_librdkafka_sasl_plain_over_tls(broker_tls, pki):
    topic = harness.unique_topic("rd-sasl-ssl")
    clients.create_topic(broker_tls.plain, topic)
    conf = {**_rd_ssl(pki), "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
            "sasl.username": "alice", "sasl.password": "alice-secret"}
    sent = [{"value": b"sasl-ssl-%d" % i} for i in range(10)]
    assert len(clients.produce_all(broker_tls.sasl_ssl, topic, sent, **conf)) == 10
    got = clients.consume_all(broker_tls.sasl_ssl, topic, expected=10, **conf)
    assert [m.value() for m in got] == [m["value"] for m in sent]
    # TLS is fine but the password is not: refused.
    assert _librdkafka_metadata_fails(broker_tls.sasl_ssl, {**conf, "sasl.password": "wrong"})


def _librdkafka_metadata_fails(bootstrap: str, conf: dict) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, **conf})
    try:
        admin.list_topics(timeout=5)
    except Exception:  # KafkaException(_TRANSPORT / _TIMED_OUT): no broker reachable over TLS
        return True
    return False


def _wait_for_log(broker_tls: tls_broker, needle: str) -> str:
    harness.wait_until(lambda: needle in broker_tls.log(), timeout_s=10, what=f"log line {needle!r}")
    return next(line for line in broker_tls.log().splitlines() if needle in line)


def test_mtls_refuses_a_client_certificate_from_an_untrusted_ca(broker_tls, pki):
    assert _librdkafka_metadata_fails(broker_tls.mtls, _rd_ssl(pki, "mallory"))
    if not REFERENCE:
        line = _wait_for_log(broker_tls, "TLS handshake failed")
        assert "MTLS" in line
    # kafka-python 2.0 lets the ssl module's error (an OSError) escape from send().
    with pytest.raises((NoBrokersAvailable, KafkaPythonError, OSError)):
        _kafka_python_round_trip(broker_tls.mtls, _kp_ssl(pki, "mallory"), harness.unique_topic("kp-rogue"))


def test_the_mtls_principal_comes_from_the_certificate_through_the_mapping_rules(broker_tls, pki, kafka_classpath):
    """An ACL for User:alice (the mapped subject of alice's certificate) applies to her mTLS
    connection and to nobody else."""
    denied, open_topic = harness.unique_topic("mtls-denied"), harness.unique_topic("mtls-open")
    clients.create_topic(broker_tls.plain, denied)
    clients.create_topic(broker_tls.plain, open_topic)
    harness.ok(harness.run_java_tool(kafka_classpath, "org.apache.kafka.tools.AclCommand",
                                     "--bootstrap-server", broker_tls.plain, "--add", "--deny-principal", "User:alice",
                                     "--operation", "Write", "--topic", denied))
    # Everyone else may do everything there (an ACL on a topic ends allow.everyone.if.no.acl.found for it).
    harness.ok(harness.run_java_tool(kafka_classpath, "org.apache.kafka.tools.AclCommand",
                                     "--bootstrap-server", broker_tls.plain, "--add", "--allow-principal", "User:*",
                                     "--operation", "All", "--topic", denied))
    conf = _kp_ssl(pki, "alice")
    producer = KafkaProducer(bootstrap_servers=broker_tls.mtls, request_timeout_ms=10000, retries=0, **conf)
    try:
        producer.send(open_topic, value=b"alice may").get(timeout=30)

        def refused() -> bool:
            try:
                producer.send(denied, value=b"alice may not").get(timeout=30)
                return False
            except KafkaPythonError as exc:
                assert type(exc).__name__ == "TopicAuthorizationFailedError", repr(exc)
                return True
        # The ACL reaches the broker's image through the metadata log: wait until it applies.
        harness.wait_until(refused, timeout_s=30, what="alice's Write refused on the denied topic")
    finally:
        producer.close()
    # The same topic takes records from the super user on the plaintext listener.
    assert len(clients.produce_all(broker_tls.plain, denied, [{"value": b"anonymous may"}])) == 1
    if not REFERENCE:
        line = _wait_for_log(broker_tls, "Principal = User:alice is Denied operation = WRITE")
        assert denied in line


def test_mtls_refuses_a_client_without_certificate(broker_tls, pki):
    assert _librdkafka_metadata_fails(broker_tls.mtls, _rd_ssl(pki))


def test_the_client_sees_the_server_certificate_it_trusts_only(broker_tls, pki):
    conf = _rd_ssl(pki)
    conf["ssl.ca.location"] = str(pki / "rogue-ca.pem")
    assert _librdkafka_metadata_fails(broker_tls.ssl, conf)


@gregor_only
def test_a_plaintext_client_on_the_tls_port_is_closed_with_a_reason(broker_tls):
    host, port = broker_tls.ssl.split(":")
    assert not kafka_wire.broker_answers(f"127.0.0.1:{port}", timeout_s=3.0)
    line = _wait_for_log(broker_tls, "plaintext bytes on a TLS listener")
    assert "looks like a plaintext Kafka request" in line


@gregor_only
@pytest.mark.parametrize("listener", ["ssl", "mtls", "sasl_ssl"])
def test_tls_garbage_and_stalled_handshakes_are_closed_and_others_go_on(broker_tls, pki, listener):
    """Hostile bytes on each TLS listener: a handshake record full of garbage fails the handshake,
    a handshake that starts and stalls is closed by the partial-request timeout; each with a logged
    reason, while a well-behaved TLS client keeps being served."""
    port = {"ssl": broker_tls.ssl, "mtls": broker_tls.mtls, "sasl_ssl": broker_tls.sasl_ssl}[listener].split(":")[1]
    address = f"127.0.0.1:{port}"
    garbage = bytes([0x16, 0x03, 0x01, 0x00, 0x40]) + bytes(range(0x40))  # a "handshake" record of junk
    stalled = []
    with kafka_wire.connect(address) as junk:
        junk.sendall(garbage)
        assert kafka_wire.wait_closed(junk), "a garbage handshake record was not refused"
    for _ in range(20):  # handshakes that claim 512 bytes and send 10
        s = kafka_wire.connect(address)
        s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00]) + b"\x01" * 10)
        stalled.append(s)
    try:
        # Served meanwhile.
        topic = harness.unique_topic(f"hostile-{listener}")
        clients.create_topic(broker_tls.plain, topic)
        got = _kafka_python_round_trip(broker_tls.ssl, _kp_ssl(pki), topic)
        assert len(got) == 20
        for s in stalled:
            assert kafka_wire.wait_closed(s, timeout_s=30), "a stalled TLS handshake was kept open"
    finally:
        for s in stalled:
            s.close()
    _wait_for_log(broker_tls, "TLS handshake failed")
    _wait_for_log(broker_tls, "TLS handshake not completed within 3000 ms")


# Gregor's bound on the resident memory an idle TLS connection costs. Measured ~69 KiB: OpenSSL's
# record buffers go back while idle (SSL_MODE_RELEASE_BUFFERS), but Asio's ssl::stream keeps two
# 17 KiB staging buffers and a BIO pair with two more per connection; a TLS stream driving OpenSSL
# on the socket itself would drop those. Kafka's figure is printed, not asserted.
IDLE_TLS_CONNECTION_RSS_BYTES_MAX = 80 * 1024


def test_idle_tls_connections_cost_little_memory(broker_tls, pki):
    """Hundreds of clients complete a TLS handshake, are answered once and then stay idle: the
    broker's resident memory grows by at most IDLE_TLS_CONNECTION_RSS_BYTES_MAX per connection, and
    every one of them is still answered afterwards."""
    count = 400
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    host, port = broker_tls.ssl.rsplit(":", 1)

    def open_one(i: int) -> ssl.SSLSocket:
        sock = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=30), server_hostname=host)
        sock.sendall(kafka_wire.api_versions_request(i, 0))
        body = kafka_wire.read_response(sock)
        assert body is not None and struct.unpack_from(">i", body)[0] == i, f"connection {i} not answered"
        return sock

    for s in [open_one(i) for i in range(50)]:  # warm up the allocator and the session cache
        s.close()
    pid = broker_tls.pid
    before = harness.rss_bytes(pid) if pid else 0
    socks = [open_one(1000 + i) for i in range(count)]
    try:
        after = harness.rss_bytes(pid) if pid else 0
        for i, s in enumerate(socks[::20]):
            s.sendall(kafka_wire.api_versions_request(5000 + i, 0))
            body = kafka_wire.read_response(s)
            assert body is not None and struct.unpack_from(">i", body)[0] == 5000 + i
    finally:
        for s in socks:
            s.close()
    if pid is None:
        return
    per_connection = (after - before) / count
    print(f"\n{count} idle TLS connections: RSS +{(after - before) / 2**20:.1f} MiB = "
          f"{per_connection / 1024:.1f} KiB per connection", flush=True)
    if not harness.sanitized(pid):
        assert per_connection <= IDLE_TLS_CONNECTION_RSS_BYTES_MAX, f"{per_connection:.0f} bytes per idle TLS connection"


@gregor_only
def test_an_ssl_listener_without_key_store_is_a_config_error(tmp_path):
    port = harness.free_port()
    proc = harness.run_gregor_once([
        "serve", "--set", f"listeners=SSL://127.0.0.1:{port}", "--set", f"advertised.listeners=SSL://127.0.0.1:{port}",
        "--set", "listener.security.protocol.map=SSL:SSL", "--set", "inter.broker.listener.name=SSL",
        "--set", f"log.dirs={tmp_path}", "--set", "http.listeners="])
    assert proc.returncode != 0
    assert "ssl.keystore.location" in proc.stderr + proc.stdout


@gregor_only
def test_an_unreadable_key_store_names_the_file(tmp_path, pki):
    port = harness.free_port()
    proc = harness.run_gregor_once([
        "serve", "--set", f"listeners=SSL://127.0.0.1:{port}", "--set", f"advertised.listeners=SSL://127.0.0.1:{port}",
        "--set", "listener.security.protocol.map=SSL:SSL", "--set", "inter.broker.listener.name=SSL",
        "--set", f"ssl.keystore.location={pki / 'server.p12'}", "--set", "ssl.keystore.password=wrong",
        "--set", f"log.dirs={tmp_path}", "--set", "http.listeners="])
    assert proc.returncode != 0
    out = proc.stderr + proc.stdout
    assert "server.p12" in out and "ssl.keystore.location" in out, out


def _java_client_properties(pki: Path, path: Path, cert: str | None) -> Path:
    lines = ["security.protocol=SSL", "ssl.truststore.type=PEM", f"ssl.truststore.location={pki / 'ca.pem'}"]
    if cert:
        lines += ["ssl.keystore.type=PKCS12", f"ssl.keystore.location={pki / f'{cert}.p12'}",
                  f"ssl.keystore.password={KEYSTORE_PASSWORD}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.java
@pytest.mark.timeout(300)
@pytest.mark.parametrize("listener", ["ssl", "mtls"])
def test_java_console_clients_over_tls(broker_tls, pki, tmp_path, kafka_classpath, listener):
    topic = harness.unique_topic(f"java-{listener}")
    clients.create_topic(broker_tls.plain, topic)
    bootstrap = broker_tls.ssl if listener == "ssl" else broker_tls.mtls
    props = _java_client_properties(pki, tmp_path / "client.properties", "alice" if listener == "mtls" else None)
    lines = [f"java line {i}" for i in range(10)]
    harness.ok(harness.run_java_tool(kafka_classpath, "org.apache.kafka.tools.ConsoleProducer",
                                     "--bootstrap-server", bootstrap, "--topic", topic,
                                     "--command-config", str(props), stdin="\n".join(lines) + "\n"))
    consumed = harness.ok(harness.run_java_tool(
        kafka_classpath, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", bootstrap,
        "--topic", topic, "--from-beginning", "--max-messages", "10", "--timeout-ms", "30000",
        "--command-config", str(props)))
    assert consumed.splitlines() == lines


@pytest.mark.java
@pytest.mark.timeout(300)
def test_java_client_with_an_untrusted_certificate_is_refused(broker_tls, pki, tmp_path, kafka_classpath):
    props = _java_client_properties(pki, tmp_path / "rogue.properties", "mallory")
    proc = harness.run_java_tool(kafka_classpath, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                                 broker_tls.mtls, "--list", "--command-config", str(props), timeout_s=120)
    assert proc.returncode != 0
    assert "SSL" in proc.stderr + proc.stdout


def _add_repl_listener(cl) -> None:
    """Every node of cl also listens on REPL (its security protocol mapped by the test)."""
    for n in cl.nodes.values():
        repl_port = 9094 if n.host != "127.0.0.1" else harness.free_port()
        cl.node_extra_config.setdefault(n.node_id, {}).update({
            "listeners": f"PLAINTEXT://{n.host}:{n.port},CONTROLLER://{n.host}:{n.controller_port},"
                         f"REPL://{n.host}:{repl_port}",
            "advertised.listeners": f"PLAINTEXT://{n.host}:{n.port},REPL://{n.host}:{repl_port}",
        })


@gregor_only
@pytest.mark.cluster
@pytest.mark.timeout(300)
def test_a_cluster_over_tls_between_its_nodes_forms_and_replicates(cluster_factory, tmp_path):
    """Raft between the controllers and the brokers' controller connections go over mTLS (the
    controller listener's own key store doubles as the client certificate); followers fetch from
    leaders over the SSL inter-broker listener REPL; clients use PLAINTEXT."""
    import cluster_harness as ch
    cl = cluster_factory(start=False, nodes=3, impl="gregor")
    d = tmp_path / "pki"
    d.mkdir()
    _ca(d, "ca")
    hosts = sorted({n.host for n in cl.nodes.values()} | {"127.0.0.1"})
    _leaf(d, "node", "/CN=gregor-node", "ca", san=",".join(f"IP:{h}" for h in hosts))
    (d / "node-keystore.pem").write_text((d / "node.key").read_text() + (d / "node.pem").read_text())
    # Each broker also listens on REPL (SSL), the inter-broker listener: followers fetch over TLS.
    _add_repl_listener(cl)
    cl.extra_config.update({
        "inter.broker.listener.name": "REPL",
        "listener.name.repl.ssl.keystore.location": str(d / "node-keystore.pem"),
        "listener.name.repl.ssl.truststore.location": str(d / "ca.pem"),
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL,REPL:SSL",
        "listener.name.controller.ssl.keystore.location": str(d / "node-keystore.pem"),
        "listener.name.controller.ssl.truststore.location": str(d / "ca.pem"),
        "listener.name.controller.ssl.client.auth": "required",
    })
    cl.start()
    leader = ch.replicate_then_fail_over(cl, harness.unique_topic("ctl-tls"))

    # The controller listener really is TLS: a plaintext client is closed there, with the reason.
    first = next(n for n in cl.controllers if n.node_id != leader)
    assert not kafka_wire.broker_answers(f"{first.host}:{first.controller_port}", timeout_s=3.0)
    harness.wait_until(lambda: "plaintext bytes on a TLS listener" in harness.tail(first.stderr_path, 500000),
                       timeout_s=10, what="the plaintext refusal in the controller's log")
    for n in cl.nodes.values():
        log = harness.tail(n.stderr_path, 2000000)
        assert "TLS handshake failed" not in log, f"node {n.node_id}"
        assert "outgoing TLS" not in log, f"node {n.node_id}"


@gregor_only
@pytest.mark.cluster
@pytest.mark.timeout(420)
def test_a_cluster_rotates_its_inter_broker_certificates_to_a_new_ca_without_restarts(cluster_factory, tmp_path):
    """Certificate rotation on disk, as operators do it with Kafka's file reload: every node's trust
    store gains a second CA, the nodes' key store is replaced by one the new CA signed, then the old
    CA is dropped from the trust store. Each node picks up every step for its listener and for its
    own outgoing connections (replica fetchers), without a restart. Then one node is killed and
    started again: the others must reach it over new connections, which succeed only with the new
    certificates on both sides (its listener now requires a client certificate the new CA signed and
    presents one only the new trust store accepts)."""
    import cluster_harness as ch
    from confluent_kafka.admin import NewTopic
    cl = cluster_factory(start=False, nodes=3, impl="gregor")
    d = tmp_path / "pki"
    d.mkdir()
    _ca(d, "ca1")
    _ca(d, "ca2")
    hosts = sorted({n.host for n in cl.nodes.values()} | {"127.0.0.1"})
    san = ",".join(f"IP:{h}" for h in hosts)
    _leaf(d, "node1", "/CN=gregor-node", "ca1", san=san)
    _leaf(d, "node2", "/CN=gregor-node", "ca2", san=san)
    keystore, truststore = d / "node-keystore.pem", d / "trust.pem"
    keystore.write_text((d / "node1.key").read_text() + (d / "node1.pem").read_text())
    truststore.write_text((d / "ca1.pem").read_text())
    _add_repl_listener(cl)
    cl.extra_config.update({
        "inter.broker.listener.name": "REPL",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,REPL:SSL",
        "listener.name.repl.ssl.keystore.location": str(keystore),
        "listener.name.repl.ssl.truststore.location": str(truststore),
        "listener.name.repl.ssl.client.auth": "required",
    })
    cl.start()
    victim = max(cl.nodes)
    others = sorted(i for i in cl.nodes if i != victim)
    topic = harness.unique_topic("rotate")
    admin = clients.admin(cl.bootstrap())
    # Led by `victim` when it is up; acks=all waits for both followers (min.insync.replicas=3).
    fs = admin.create_topics([NewTopic(topic, 1, replica_assignment=[[victim, *others]],
                                       config={"min.insync.replicas": "3"})], operation_timeout=30)
    fs[topic].result(timeout=60)
    clients.wait_for_topic(cl.bootstrap(), topic, 1)

    def state() -> tuple[int, list[int]]:
        t = ch.metadata(cl.nodes[others[0]].bootstrap, [topic]).topics.get(topic)
        return (t.partitions[0].leader, sorted(t.partitions[0].isr)) if t and t.partitions else (-1, [])
    harness.wait_until(lambda: state() == (victim, sorted(cl.nodes)), timeout_s=90,
                       what="the partition led by its first replica, every replica in the ISR, over TLS")
    values = [b"r%d" % i for i in range(20)]
    assert len(clients.produce_all(cl.bootstrap(), topic, [{"value": v} for v in values[:10]], acks="all")) == 10

    def reloads(n, needle: str) -> int:
        return harness.tail(n.stderr_path, 4000000).count(needle)
    listener_reload = "listener REPL: reloaded TLS certificates"
    outgoing_reload = "outgoing TLS to listener REPL: reloaded"

    def step(write) -> None:
        before = {i: (reloads(n, listener_reload), reloads(n, outgoing_reload)) for i, n in cl.nodes.items()}
        write()
        for i, n in cl.nodes.items():
            harness.wait_until(lambda: reloads(n, listener_reload) > before[i][0]
                               and reloads(n, outgoing_reload) > before[i][1],
                               timeout_s=60, what=f"node {i} reloading its listener and outgoing TLS")

    step(lambda: truststore.write_text((d / "ca1.pem").read_text() + (d / "ca2.pem").read_text()))
    step(lambda: keystore.write_text((d / "node2.key").read_text() + (d / "node2.pem").read_text()))
    step(lambda: truststore.write_text((d / "ca2.pem").read_text()))

    # The leader is killed and started again: it comes back as a follower (its own connections are
    # new, from the files) and once in the ISR is made leader again, so the nodes that rotated in
    # place must fetch from it over new connections, which succeed only with their new certificates.
    cl.restart_node(victim, kill=True)
    harness.wait_until(lambda: state()[0] in others and state()[1] == sorted(cl.nodes), timeout_s=120,
                       what=f"node {victim} back in the ISR as a follower")
    harness.wait_until(lambda: ch.elect_preferred_leader(cl.nodes[others[0]].bootstrap, topic, 0) in (0, 84)
                       and state()[0] == victim, timeout_s=60, what=f"node {victim} elected leader again")
    assert len(clients.produce_all(cl.bootstrap(), topic, [{"value": v} for v in values[10:]], acks="all")) == 10
    assert state() == (victim, sorted(cl.nodes))
    assert [m.value() for m in clients.consume_all(cl.bootstrap(), topic, expected=20)] == values
    for i in others:
        log = harness.tail(cl.nodes[i].stderr_path, 4000000)
        assert "keeping the current certificates" not in log, f"node {i}"
        assert "TLS handshake failed" not in log, f"node {i}"


# ---- listener stores changed through AlterConfigs (kafka-configs.sh), as Kafka's DynamicBrokerConfig ----

CONFIG_TOOL = "kafka.admin.ConfigCommand"  # what kafka-configs.sh runs


def _broker_entity(bootstrap: str) -> list[str]:
    broker_id = next(iter(clients.admin(bootstrap).list_topics(timeout=15).brokers))
    return ["--bootstrap-server", bootstrap, "--entity-type", "brokers", "--entity-name", str(broker_id)]


def _served_serial(hostport: str, pki: Path) -> str:
    """The serial number of the certificate a new TLS connection to `hostport` is served."""
    host, port = hostport.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            return tls.getpeercert()["serialNumber"].upper().lstrip("0")


def _file_serial(pem: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(pem)], capture_output=True, text=True,
                         check=True).stdout
    return out.strip().split("=", 1)[1].upper().lstrip("0")


def _p12(d: Path, name: str, password: str) -> Path:
    _openssl("pkcs12", "-export", "-inkey", f"{name}.key", "-in", f"{name}.pem", "-passout", f"pass:{password}",
             "-out", f"{name}.p12", cwd=d)
    return d / f"{name}.p12"


@pytest.mark.java
@pytest.mark.timeout(300)
def test_kafka_configs_switches_a_listener_key_store_for_new_connections(broker_tls, pki, kafka_classpath):
    """A renewed certificate (same subject and names, same CA) goes in through kafka-configs.sh;
    new connections get it at once and clients keep working; a key store that does not exist, has
    another password or another subject is refused and the current certificate stays; Describe hides
    the password; deleting the dynamic values goes back to the static key store."""
    d = pki
    _leaf(d, "renewed", "/O=Example/CN=localhost", "ca", san="DNS:localhost,IP:127.0.0.1")
    _leaf(d, "renamed", "/O=Example/CN=somebody-else", "ca", san="DNS:localhost,IP:127.0.0.1")
    renewed = _p12(d, "renewed", "renewed-secret")
    renamed = _p12(d, "renamed", "renewed-secret")
    entity = _broker_entity(broker_tls.plain)
    prefix = "listener.name.ssl.ssl."
    static_serial = _served_serial(broker_tls.ssl, pki)
    assert static_serial == _file_serial(d / "server.pem")

    def alter(location: Path, password: str) -> subprocess.CompletedProcess:
        return harness.run_java_tool(
            kafka_classpath, CONFIG_TOOL, *entity, "--alter", "--add-config",
            f"{prefix}keystore.type=PKCS12,{prefix}keystore.location={location},{prefix}keystore.password={password}")

    for location, password, why in [(d / "missing.p12", "renewed-secret", "SSLFactory failed"),
                                    (renewed, "wrong-secret", "SSLFactory failed"),
                                    (renamed, "renewed-secret", "DistinguishedName does not match")]:
        refused = alter(location, password)
        assert refused.returncode != 0, refused.stdout
        out = refused.stdout + refused.stderr
        assert "InvalidRequestException" in out and why in out, out
        assert _served_serial(broker_tls.ssl, pki) == static_serial

    harness.ok(alter(renewed, "renewed-secret"))
    harness.wait_until(lambda: _served_serial(broker_tls.ssl, pki) == _file_serial(d / "renewed.pem"),
                       timeout_s=30, what="the renewed certificate on new connections")
    topic = harness.unique_topic("kp-renewed")
    clients.create_topic(broker_tls.plain, topic)
    got = _kafka_python_round_trip(broker_tls.ssl, _kp_ssl(pki), topic)
    assert got == [(f"tls-{i}-" * 50).encode() for i in range(20)]

    described = harness.ok(harness.run_java_tool(kafka_classpath, CONFIG_TOOL, *entity, "--describe"))
    assert f"{prefix}keystore.location={renewed}" in described, described
    assert f"{prefix}keystore.password=null sensitive=true" in described, described
    assert "renewed-secret" not in described

    harness.ok(harness.run_java_tool(
        kafka_classpath, CONFIG_TOOL, *entity, "--alter", "--delete-config",
        f"{prefix}keystore.type,{prefix}keystore.location,{prefix}keystore.password"))
    harness.wait_until(lambda: _served_serial(broker_tls.ssl, pki) == static_serial, timeout_s=30,
                       what="the static certificate again")
    described = harness.ok(harness.run_java_tool(kafka_classpath, CONFIG_TOOL, *entity, "--describe"))
    assert f"{prefix}keystore" not in described, described


@pytest.mark.java
@pytest.mark.timeout(300)
def test_kafka_configs_switches_a_listener_trust_store(broker_tls, pki, kafka_classpath):
    """A trust store with one more CA, set through kafka-configs.sh on the mTLS listener, admits
    that CA's client certificate on new connections; deleting it refuses them again."""
    bundle = pki / "ca-bundle.pem"
    bundle.write_text((pki / "ca.pem").read_text() + (pki / "rogue-ca.pem").read_text())
    entity = _broker_entity(broker_tls.plain)
    prefix = "listener.name.mtls.ssl."
    refused = harness.run_java_tool(kafka_classpath, CONFIG_TOOL, *entity, "--alter", "--add-config",
                                    f"{prefix}truststore.location={pki / 'missing.pem'}")
    assert refused.returncode != 0 and "InvalidRequestException" in refused.stdout + refused.stderr
    with pytest.raises((NoBrokersAvailable, KafkaPythonError, OSError)):
        _kafka_python_round_trip(broker_tls.mtls, _kp_ssl(pki, "mallory"), harness.unique_topic("kp-rogue"))

    harness.ok(harness.run_java_tool(kafka_classpath, CONFIG_TOOL, *entity, "--alter", "--add-config",
                                     f"{prefix}truststore.type=PEM,{prefix}truststore.location={bundle}"))
    try:
        topic = harness.unique_topic("kp-bundle")
        clients.create_topic(broker_tls.plain, topic)
        got = _kafka_python_round_trip(broker_tls.mtls, _kp_ssl(pki, "mallory"), topic)
        assert got == [(f"tls-{i}-" * 50).encode() for i in range(20)]
    finally:
        harness.ok(harness.run_java_tool(kafka_classpath, CONFIG_TOOL, *entity, "--alter", "--delete-config",
                                         f"{prefix}truststore.type,{prefix}truststore.location"))
    with pytest.raises((NoBrokersAvailable, KafkaPythonError, OSError)):
        _kafka_python_round_trip(broker_tls.mtls, _kp_ssl(pki, "mallory"), harness.unique_topic("kp-rogue2"))


@gregor_only
@pytest.mark.java
@pytest.mark.timeout(300)
def test_a_dynamic_key_store_survives_a_restart_and_its_file_is_watched(tmp_path, pki, kafka_classpath):
    """Gregor's own process: the dynamic key store is in the metadata log (a restarted broker
    serves it) and the file-change reload follows the new file."""
    d = tmp_path
    for f in ("ca.pem", "ca.key", "server.pem", "server.key"):
        (d / f).write_bytes((pki / f).read_bytes())
    (d / "server-keystore.pem").write_text((d / "server.key").read_text() + (d / "server.pem").read_text())
    port, ssl_port = harness.free_port(), harness.free_port()
    proc = harness.gregor_process(d / "broker", port=port, extra_sets={
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SSL://localhost:{ssl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.name.ssl.ssl.keystore.location": str(d / "server-keystore.pem"),
    })
    proc.start()
    try:
        _leaf(d, "renewed", "/O=Example/CN=localhost", "ca", san="DNS:localhost,IP:127.0.0.1")
        dynamic = d / "dynamic-keystore.pem"
        dynamic.write_text((d / "renewed.key").read_text() + (d / "renewed.pem").read_text())
        entity = _broker_entity(proc.bootstrap)
        harness.ok(harness.run_java_tool(kafka_classpath, CONFIG_TOOL, *entity, "--alter", "--add-config",
                                         f"listener.name.ssl.ssl.keystore.location={dynamic}"))
        assert _served_serial(f"localhost:{ssl_port}", d) == _file_serial(d / "renewed.pem")
    finally:
        proc.stop()
    proc.start()
    try:
        assert _served_serial(f"localhost:{ssl_port}", d) == _file_serial(d / "renewed.pem")
        # The reload watches the dynamic file now: replace it in place.
        _leaf(d, "again", "/O=Example/CN=localhost", "ca", san="DNS:localhost,IP:127.0.0.1")
        tmp = d / "dynamic-keystore.pem.tmp"
        tmp.write_text((d / "again.key").read_text() + (d / "again.pem").read_text())
        tmp.rename(dynamic)
        harness.wait_until(lambda: _served_serial(f"localhost:{ssl_port}", d) == _file_serial(d / "again.pem"),
                           timeout_s=30, what="the reloaded dynamic key store")
    finally:
        proc.stop()
