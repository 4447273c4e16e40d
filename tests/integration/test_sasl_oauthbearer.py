"""SASL/OAUTHBEARER on a SASL_PLAINTEXT listener with Kafka's own settings: the broker validates
JWTs with OAuthBearerValidatorCallbackHandler against the keys of a JWKS file
(sasl.oauthbearer.jwks.endpoint.url=file:...), checks exp, aud (sasl.oauthbearer.expected.audience)
and iss (sasl.oauthbearer.expected.issuer), and the principal is User:<sub>. Keys and tokens are
made at run time (python `cryptography`); nothing secret is stored.

Clients: Kafka's Java tools (OAuthBearerLoginCallbackHandler reading the token from a file:
URL), librdkafka (confluent-kafka's oauth_cb), kafka-python (sasl_oauth_token_provider) and the
raw protocol. A token that expired, one signed by another key, one for another audience or issuer
are refused with Kafka's error: the {"status":"invalid_token"} challenge, then
SASL_AUTHENTICATION_FAILED carrying it. The KIP-368 session lasts until the token expires.

A one-node cluster (cluster_harness), so GREGOR_CLUSTER_IMPL=kafka runs the same file against
Apache Kafka 4.3.1 configured the same way (its JVM is allowed the JWKS and token file URLs with
the system property org.apache.kafka.sasl.oauthbearer.allowed.urls, which Kafka 4 requires).
"""
from __future__ import annotations

import base64
import json
import struct
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.oauth.abstract import AbstractTokenProvider

import cluster_harness as ch
import harness
import kafka_wire as kw

pytestmark = [pytest.mark.cluster]

LISTENER = "SASL_PLAINTEXT"
AUDIENCE = "gregor-itest"
ISSUER = "https://issuer.itest"
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
INVALID_TOKEN = '{"status":"invalid_token"}'


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n: int, length: int | None = None) -> bytes:
    return n.to_bytes(length or (n.bit_length() + 7) // 8, "big")


class signer:
    """A private key made for this run, its public JWK, and JWTs signed with it."""

    def __init__(self, kid: str, alg: str = "RS256"):
        self.kid, self.alg = kid, alg
        if alg == "RS256":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pub = self.key.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": alg, "n": b64url(int_bytes(pub.n)),
                        "e": b64url(int_bytes(pub.e))}
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            pub = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256", "x": b64url(int_bytes(pub.x, 32)),
                        "y": b64url(int_bytes(pub.y, 32))}

    def token(self, sub: str = "alice", lifetime_s: int = 3600, aud: str | None = AUDIENCE, iss: str | None = ISSUER,
              **extra) -> str:
        now = int(time.time())
        claims = {"sub": sub, "iat": now, "exp": now + lifetime_s, "scope": "kafka", **extra}
        if aud is not None:
            claims["aud"] = aud
        if iss is not None:
            claims["iss"] = iss
        header = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        if self.alg == "RS256":
            signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = int_bytes(r, 32) + int_bytes(s, 32)
        return signing_input.decode() + "." + b64url(signature)


class oauth_setup:
    def __init__(self, base: Path):
        self.base = base
        self.rsa = signer("itest-rsa")
        self.ec = signer("itest-ec", "ES256")
        self.stranger = signer("itest-rsa")  # same kid, another key: its tokens must not verify
        self.jwks = base / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [self.rsa.jwk, self.ec.jwk]}))
        self.token_file = base / "token.jwt"
        self.token_file.write_text(self.rsa.token())
        self.jwks_url = self.jwks.as_uri()
        self.token_url = self.token_file.as_uri()


@pytest.fixture(scope="module")
def oauth(tmp_path_factory) -> oauth_setup:
    return oauth_setup(tmp_path_factory.mktemp("oauth-keys"))


@pytest.fixture(scope="module")
def oauth_node(tmp_path_factory, oauth):
    config = {
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": f"{LOGIN_MODULE} required ;",
        "listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.url": oauth.jwks_url,
        "sasl.oauthbearer.expected.audience": AUDIENCE,
        "sasl.oauthbearer.expected.issuer": ISSUER,
        # One node: the consumers' group coordinator needs __consumer_offsets with one replica.
        "offsets.topic.replication.factor": "1",
        **harness.FAST_GROUP_SETS,
    }
    allowed = f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={oauth.jwks_url}"
    yield from ch.module_cluster(tmp_path_factory.mktemp("oauth"), nodes=1,
                                 extra_listeners={LISTENER: "SASL_PLAINTEXT"}, extra_config=config,
                                 kafka_jvm_options=[allowed])


@pytest.fixture
def bootstrap(oauth_node) -> str:
    oauth_node.mark_logs()
    return oauth_node.nodes[1].bootstrap_for(LISTENER)


# ---- clients

class static_token(AbstractTokenProvider):
    def __init__(self, token: str):
        super().__init__()
        self._token = token

    def token(self):
        return self._token


def python_producer(bootstrap: str, token: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism="OAUTHBEARER",
                         sasl_oauth_token_provider=static_token(token), acks="all", request_timeout_ms=20000,
                         api_version_auto_timeout_ms=20000)


def librdkafka_config(bootstrap: str, token: str, **extra) -> dict:
    def oauth_cb(_config):
        return token, time.time() + 3600
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": oauth_cb, **extra}


def java_properties(path: Path, token_url: str) -> Path:
    path.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n"
                    "sasl.login.callback.handler.class="
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n"
                    f"sasl.oauthbearer.token.endpoint.url={token_url}\n"
                    f"sasl.jaas.config={LOGIN_MODULE} required ;\n")
    return path


def run_java(classpath: str, token_url: str, main_class: str, *args: str, stdin: str | None = None):
    """A Kafka tool whose JVM may read the token file (Kafka 4's allowed-URLs system property)."""
    import subprocess
    cmd = harness.java_tool_cmd(classpath, main_class, *args)
    cmd.insert(1, f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={token_url}")
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)


# ---- the raw exchange

def handshake(sock, correlation_id: int = 1) -> None:
    sock.sendall(kw.request(17, 1, correlation_id, kw.encode_string("OAUTHBEARER")))
    hs = kw.read_response(sock)
    assert hs is not None, "no SaslHandshake answer"
    assert struct.unpack(">h", hs[4:6])[0] == 0, "SaslHandshake refused OAUTHBEARER"


def authenticate(sock, auth_bytes: bytes, correlation_id: int = 2) -> tuple[int, str | None, bytes, int]:
    """SaslAuthenticate v1: (error code, error message, auth bytes, session lifetime ms)."""
    sock.sendall(kw.request(36, 1, correlation_id, struct.pack(">i", len(auth_bytes)) + auth_bytes))
    body = kw.read_response(sock)
    assert body is not None, "no SaslAuthenticate answer"
    pos = 4
    (error_code,) = struct.unpack(">h", body[pos:pos + 2])
    pos += 2
    (msg_len,) = struct.unpack(">h", body[pos:pos + 2])
    pos += 2
    message = None
    if msg_len >= 0:
        message = body[pos:pos + msg_len].decode()
        pos += msg_len
    (bytes_len,) = struct.unpack(">i", body[pos:pos + 4])
    pos += 4
    data = body[pos:pos + bytes_len]
    pos += bytes_len
    (lifetime_ms,) = struct.unpack(">q", body[pos:pos + 8])
    return error_code, message, data, lifetime_ms


def initial_response(token: str) -> bytes:
    return f"n,,\x01auth=Bearer {token}\x01\x01".encode()


def assert_refused_with_kafkas_error(bootstrap: str, token: str) -> None:
    with kw.connect(bootstrap) as s:
        handshake(s)
        code, message, challenge, _ = authenticate(s, initial_response(token))
        assert (code, challenge.decode()) == (0, INVALID_TOKEN), (code, message, challenge)
        code, message, _, _ = authenticate(s, b"\x01", 3)
        assert (code, message) == (58, INVALID_TOKEN)  # SASL_AUTHENTICATION_FAILED
        assert kw.wait_closed(s), "the connection stayed open after a failed authentication"


# ---- tests

def test_java_tools_produce_and_consume_with_a_token_from_a_file(bootstrap, oauth, tmp_path, kafka_classpath):
    props = java_properties(tmp_path / "client.properties", oauth.token_url)
    topic = harness.unique_topic("oauth-java")
    lines = [f"oauth line {i}" for i in range(10)]
    harness.ok(run_java(kafka_classpath, oauth.token_url, "org.apache.kafka.tools.ConsoleProducer",
                        "--bootstrap-server", bootstrap, "--topic", topic, "--command-config", str(props),
                        stdin="\n".join(lines) + "\n"))
    consumed = harness.ok(run_java(kafka_classpath, oauth.token_url, "org.apache.kafka.tools.consumer.ConsoleConsumer",
                                   "--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
                                   "--max-messages", "10", "--timeout-ms", "30000", "--command-config", str(props)))
    assert consumed.splitlines() == lines


def test_java_client_with_a_token_signed_by_another_key_is_refused(bootstrap, oauth, tmp_path, kafka_classpath):
    """The Java client checks a token's claims itself but not its signature: the broker does."""
    forged = tmp_path / "forged.jwt"
    forged.write_text(oauth.stranger.token())
    props = java_properties(tmp_path / "forged.properties", forged.as_uri())
    proc = run_java(kafka_classpath, forged.as_uri(), "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                    bootstrap, "--list", "--command-config", str(props))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "SaslAuthenticationException" in out and INVALID_TOKEN in out, out


def test_librdkafka_produces_and_consumes_with_oauth_cb(bootstrap, oauth):
    topic = harness.unique_topic("oauth-rdkafka")
    producer = Producer(librdkafka_config(bootstrap, oauth.rsa.token(sub="rdk"), **{"message.timeout.ms": 20000}))
    delivered = []
    for i in range(5):
        producer.produce(topic, value=b"m%d" % i, on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(30)
    assert delivered == [None] * 5
    consumer = Consumer(librdkafka_config(bootstrap, oauth.ec.token(sub="rdk"), **{
        "group.id": harness.unique_topic("g"), "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    values = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < 5 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    assert values == [b"m%d" % i for i in range(5)]


def test_librdkafka_with_a_token_for_another_audience_is_refused(bootstrap, oauth):
    errors = []
    producer = Producer(librdkafka_config(bootstrap, oauth.rsa.token(aud="someone-else"),
                                          error_cb=lambda e: errors.append(e)))
    deadline = time.monotonic() + 20
    while not any("invalid_token" in e.str() for e in errors) and time.monotonic() < deadline:
        producer.poll(0.5)  # error_cb runs from poll()
    assert any("invalid_token" in e.str() for e in errors), [e.str() for e in errors]
    with pytest.raises(KafkaException):
        producer.list_topics(timeout=3)


def test_kafka_python_with_rsa_and_ec_tokens_and_an_expired_one(bootstrap, oauth):
    topic = harness.unique_topic("oauth-python")
    for key in (oauth.rsa, oauth.ec):
        producer = python_producer(bootstrap, key.token(sub="py"))
        try:
            producer.send(topic, b"from " + key.alg.encode()).get(timeout=30)
        finally:
            producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=static_token(oauth.rsa.token()),
                             auto_offset_reset="earliest", consumer_timeout_ms=15000, group_id=None)
    try:
        assert sorted(m.value for m in consumer) == [b"from ES256", b"from RS256"]
    finally:
        consumer.close()
    with pytest.raises(KafkaError):
        python_producer(bootstrap, oauth.rsa.token(lifetime_s=-120)).close()


@pytest.mark.parametrize("case", ["expired", "another key", "another audience", "another issuer", "no aud",
                                  "unsigned"])
def test_refused_tokens_get_kafkas_invalid_token_challenge_then_fail(bootstrap, oauth, case):
    token = {
        "expired": lambda: oauth.rsa.token(lifetime_s=-120),  # past the 30 s clock skew
        "another key": lambda: oauth.stranger.token(),
        "another audience": lambda: oauth.rsa.token(aud="someone-else"),
        "another issuer": lambda: oauth.rsa.token(iss="https://evil.itest"),
        "no aud": lambda: oauth.rsa.token(aud=None),
        "unsigned": lambda: (b64url(b'{"alg":"none"}') + "."
                             + oauth.rsa.token().split(".")[1] + "."),
    }[case]()
    assert_refused_with_kafkas_error(bootstrap, token)


def test_malformed_initial_response_fails_with_the_generic_message(bootstrap):
    with kw.connect(bootstrap) as s:
        handshake(s)
        code, message, _, _ = authenticate(s, b"n,,auth=Bearer x\x01\x01")
        assert code == 58
        assert message == ("Authentication failed during authentication due to invalid credentials with SASL "
                           "mechanism OAUTHBEARER")
        assert kw.wait_closed(s)


def test_session_lasts_until_the_token_expires(bootstrap, oauth):
    """KIP-368: SaslAuthenticate tells the session lifetime (the token's remaining life, as
    connections.max.reauth.ms is not set); after it the broker closes the connection at the next
    request that is not a re-authentication."""
    with kw.connect(bootstrap) as s:
        handshake(s)
        code, message, _, lifetime_ms = authenticate(s, initial_response(oauth.rsa.token(lifetime_s=600)))
        assert code == 0, message
        assert 590_000 <= lifetime_ms <= 600_000, lifetime_ms
    # A token with 3 s left: requests are served, then the connection is closed once it expired.
    with kw.connect(bootstrap) as s:
        handshake(s)
        code, message, _, lifetime_ms = authenticate(s, initial_response(oauth.rsa.token(lifetime_s=3)))
        assert code == 0, message
        assert 0 < lifetime_ms <= 3000, lifetime_ms
        authenticated_at = time.monotonic()
        s.sendall(kw.metadata_request_v1(10, []))
        assert kw.read_response(s) is not None, "Metadata was not answered within the session"
        closed = False
        correlation_id = 11
        while time.monotonic() - authenticated_at < 20 and not closed:
            try:
                s.sendall(kw.metadata_request_v1(correlation_id, []))
                closed = kw.read_response(s) is None
            except (ConnectionResetError, BrokenPipeError):
                closed = True
            correlation_id += 1
            if not closed:
                time.sleep(0.25)  # the pace of the client's requests, not a wait for a condition
        assert closed, "the connection was still served 20 s after its token expired"
        assert time.monotonic() - authenticated_at >= lifetime_ms / 1000 - 0.5


def test_the_jwks_file_is_read_again_when_it_changes(bootstrap, oauth):
    """A new key added to the JWKS file is accepted without a restart."""
    newcomer = signer("itest-rotated")
    token = newcomer.token(sub="rotated")
    assert_refused_with_kafkas_error(bootstrap, token)
    oauth.jwks.write_text(json.dumps({"keys": [oauth.rsa.jwk, oauth.ec.jwk, newcomer.jwk]}))
    deadline = time.monotonic() + 60  # Kafka re-reads the file on its own schedule
    while True:
        with kw.connect(bootstrap) as s:
            handshake(s)
            code, message, challenge, _ = authenticate(s, initial_response(token))
        if code == 0 and challenge == b"":
            break
        assert time.monotonic() < deadline, f"the rotated key was not picked up: {code} {message} {challenge}"
        time.sleep(0.5)


def test_reauthentication_with_a_new_token_keeps_the_principal(bootstrap, oauth):
    """KIP-368 on OAUTHBEARER without connections.max.reauth.ms: the token's expiry gives the
    session a lifetime, so the client may re-authenticate on the same connection with a fresh token
    for the same principal (the new session lasts as long as the new token), never another one."""
    with kw.connect(bootstrap) as s:
        handshake(s)
        code, message, _, _ = authenticate(s, initial_response(oauth.rsa.token(sub="carol", lifetime_s=600)))
        assert code == 0, message
        handshake(s, 3)
        code, message, _, lifetime_ms = authenticate(s, initial_response(oauth.ec.token(sub="carol", lifetime_s=900)), 4)
        assert code == 0, message
        assert 890_000 <= lifetime_ms <= 900_000, lifetime_ms
        s.sendall(kw.metadata_request_v1(5, []))
        assert kw.read_response(s) is not None, "Metadata was not answered after re-authentication"
    # Another connection (Kafka allows one re-authentication a second per connection).
    with kw.connect(bootstrap) as s:
        handshake(s)
        code, message, _, _ = authenticate(s, initial_response(oauth.rsa.token(sub="carol", lifetime_s=600)))
        assert code == 0, message
        handshake(s, 3)
        code, message, _, _ = authenticate(s, initial_response(oauth.rsa.token(sub="mallory")), 4)
        assert code == 58, message
        assert message == "Cannot change principals during re-authentication from User.carol: User.mallory"
        assert kw.wait_closed(s)
