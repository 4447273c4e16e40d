"""SASL/OAUTHBEARER with the JWKS on an https endpoint, as identity providers publish it:
sasl.oauthbearer.jwks.endpoint.url=https://.../jwks, the endpoint's certificate checked against the
trust store named in the listener's OAUTHBEARER JAAS options (ssl.truststore.type=PEM,
ssl.truststore.location=..., Kafka's JaasOptionsUtils). The broker fetches the JWKS when it starts
and again when a token names a key id the set lacks (Kafka's RefreshingHttpsJwks expedited
refresh): a provider's key rotation is picked up without a restart.

The endpoint is an https server in this process with a CA and certificate made for the run
(python `cryptography`), bound to the address the nodes reach the test host at (the bridge in
netns mode). A one-node cluster, so GREGOR_CLUSTER_IMPL=kafka runs the same file against Apache
Kafka 4.3.1 configured the same way (its JVM is allowed the URL with the system property
org.apache.kafka.sasl.oauthbearer.allowed.urls).
"""
from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import cluster_harness as ch
import harness
import kafka_wire as kw
from test_sasl_oauthbearer import (AUDIENCE, ISSUER, LISTENER, LOGIN_MODULE, VALIDATOR, authenticate,
                                   assert_refused_with_kafkas_error, handshake, initial_response, python_producer,
                                   signer)

pytestmark = [pytest.mark.cluster]


def make_pki(base: Path, host: str) -> tuple[Path, Path, Path]:
    """A CA (ca.pem) and a server certificate for `host` (an IP address SAN) signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "itest jwks CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwks")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = base / "ca.pem", base / "jwks-cert.pem", base / "jwks-key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


class jwks_server:
    """Serves {"keys": [...]} over https at /jwks; counts the GETs."""

    def __init__(self, host: str, cert: Path, key: Path, keys: list[dict]):
        self.keys = list(keys)
        self.gets = 0
        outer = self

        class handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path != "/jwks":
                    self.send_error(404)
                    return
                outer.gets += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://{host}:{self.httpd.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class https_setup:
    def __init__(self):
        self.rsa = signer("https-rsa")
        self.ec = signer("https-ec", "ES256")
        self.server: jwks_server | None = None
        self.ca: Path | None = None


def host_side_address(cl: ch.cluster) -> str:
    """The address the nodes reach this process at."""
    return f"{cl.network.prefix}.254" if cl.network.kind == "netns" else "127.0.0.1"


def jaas(ca: Path) -> str:
    # With options present, Kafka's broker-side login (the unsecured login handler) makes a token
    # of its own and needs a subject for it; Gregor ignores that option.
    return (f'{LOGIN_MODULE} required ssl.truststore.type="PEM" ssl.truststore.location="{ca}" '
            'unsecuredLoginStringClaim_sub="broker" ;')


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    s = https_setup()
    base = tmp_path_factory.mktemp("oauth-https")
    cl = ch.cluster(base / "cluster", nodes=1, extra_listeners={LISTENER: "SASL_PLAINTEXT"})
    try:
        host = host_side_address(cl)
        s.ca, cert, key = make_pki(base, host)
        s.server = jwks_server(host, cert, key, [s.rsa.jwk])
        cl.extra_config.update({
            "sasl.enabled.mechanisms": "OAUTHBEARER",
            "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
            "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": jaas(s.ca),
            "listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.url": s.server.url,
            "sasl.oauthbearer.expected.audience": AUDIENCE,
            "sasl.oauthbearer.expected.issuer": ISSUER,
            "offsets.topic.replication.factor": "1",
        })
        if cl.impl_name == "kafka":
            cl.impl.jvm_options.append(f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={s.server.url}")
        cl.start()
        s.cluster = cl
        yield s
    finally:
        cl.close()
        if s.server:
            s.server.close()


@pytest.fixture
def bootstrap(setup) -> str:
    setup.cluster.mark_logs()
    return setup.cluster.nodes[1].bootstrap_for(LISTENER)


def accepted(bootstrap: str, token: str) -> tuple[bool, str]:
    with kw.connect(bootstrap) as s:
        handshake(s)
        code, message, challenge, _ = authenticate(s, initial_response(token))
    return code == 0 and challenge == b"", f"{code} {message} {challenge!r}"


def test_a_token_signed_with_a_key_of_the_endpoint_produces(bootstrap, setup):
    assert setup.server.gets >= 1, "the broker started without fetching the JWKS"
    topic = harness.unique_topic("oauth-https")
    producer = python_producer(bootstrap, setup.rsa.token(sub="https-user"))
    try:
        producer.send(topic, b"over an https JWKS").get(timeout=30)
    finally:
        producer.close()
    # A key the endpoint does not serve is refused with Kafka's error.
    assert_refused_with_kafkas_error(bootstrap, setup.ec.token())


def test_a_key_the_provider_rotates_in_is_fetched_when_a_token_names_it(bootstrap, setup):
    """The token's kid is unknown: the broker refuses it and refreshes the JWKS at once (not at the
    hour's refresh); the client's retry is then accepted."""
    newcomer = signer("https-rotated")
    token = newcomer.token(sub="rotated")
    ok, why = accepted(bootstrap, token)
    assert not ok, f"a token of a key nobody serves was accepted: {why}"
    setup.server.keys = [setup.rsa.jwk, newcomer.jwk]
    deadline = time.monotonic() + 60
    while True:
        ok, why = accepted(bootstrap, token)
        if ok:
            break
        assert time.monotonic() < deadline, f"the rotated key was not picked up: {why}"
        time.sleep(0.5)  # the pace of the client's retries, not a wait for a condition
    # The old key still works, and the refused one stays refused.
    assert accepted(bootstrap, setup.rsa.token())[0]
    assert_refused_with_kafkas_error(bootstrap, signer("https-rsa").token())  # same kid, another key


def test_an_endpoint_whose_certificate_is_not_trusted_stops_the_start(tmp_path, setup):
    """The trust store names another CA: the TLS handshake fails, the broker does not start and
    says which key and why (Kafka's validator fails to configure the same way)."""
    if setup.cluster.impl_name == "kafka":
        pytest.skip("runs the gregor binary with Gregor's --set options")
    other_ca, _, _ = make_pki(tmp_path, "127.0.0.1")
    port, sasl_port = harness.free_port(), harness.free_port()
    proc = harness.run_gregor_once([
        "serve", "--set", f"listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "--set", f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "--set", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "--set", "sasl.enabled.mechanisms=OAUTHBEARER",
        "--set", f"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class={VALIDATOR}",
        "--set", f"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config={jaas(other_ca)}",
        "--set", f"sasl.oauthbearer.jwks.endpoint.url={setup.server.url}",
        "--set", "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms=200",
        "--set", f"log.dirs={tmp_path / 'data'}", "--set", "http.listeners="])
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0, out
    assert "sasl.oauthbearer.jwks.endpoint.url" in out and "TLS handshake" in out, out
