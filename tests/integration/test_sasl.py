"""SASL on a SASL_PLAINTEXT listener next to the PLAINTEXT one, with Kafka's own settings: PLAIN
users from `listener.name.sasl_plaintext.plain.sasl.jaas.config`, SCRAM-SHA-256/512 credentials
created with kafka-configs.sh (AlterUserScramCredentials, stored salted in the metadata log), ACLs
managed with kafka-acls.sh (StandardAuthorizer). Clients: kafka-python, librdkafka
(confluent-kafka) and Kafka's Java tools. Wrong passwords are refused with Kafka's error; nothing
but ApiVersions/SaslHandshake/SaslAuthenticate is served before authentication and an oversized
frame before authentication closes the connection.

A one-node cluster (cluster_harness), so GREGOR_CLUSTER_IMPL=kafka runs the same file against
Apache Kafka 4.3.1 configured the same way. The 3-node case with SASL between the brokers and to
the controllers is test_cluster_sasl_inter_broker.
"""
from __future__ import annotations

import struct

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

import cluster_harness as ch
import harness
import kafka_wire as kw

pytestmark = [pytest.mark.cluster]

CONFIG_COMMAND = "kafka.admin.ConfigCommand"  # kafka-configs.sh
ACL_COMMAND = "org.apache.kafka.tools.AclCommand"  # kafka-acls.sh
LISTENER = "SASL_PLAINTEXT"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              'password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"

SASL_CONFIG = {
    "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
    "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": SCRAM_JAAS,
    "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": SCRAM_JAAS,
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    # The harness and the node itself use the PLAINTEXT and CONTROLLER listeners (User:ANONYMOUS).
    "super.users": "User:admin;User:ANONYMOUS",
    "allow.everyone.if.no.acl.found": "true",
}


@pytest.fixture(scope="module")
def sasl_node(tmp_path_factory):
    yield from ch.module_cluster(tmp_path_factory.mktemp("sasl"), nodes=1,
                                 extra_listeners={LISTENER: "SASL_PLAINTEXT"}, extra_config=SASL_CONFIG)


@pytest.fixture
def sasl_bootstrap(sasl_node) -> str:
    sasl_node.mark_logs()
    return sasl_node.nodes[1].bootstrap_for(LISTENER)


def command_config(tmp_path, mechanism: str, user: str, password: str) -> str:
    module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if mechanism == "PLAIN"
              else "org.apache.kafka.common.security.scram.ScramLoginModule")
    path = tmp_path / f"{user}-{mechanism}.properties"
    path.write_text(f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism={mechanism}\n"
                    f'sasl.jaas.config={module} required username="{user}" password="{password}";\n')
    return str(path)


def python_producer(bootstrap: str, mechanism: str, user: str, password: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                         sasl_plain_username=user, sasl_plain_password=password, acks="all",
                         request_timeout_ms=20000, api_version_auto_timeout_ms=20000)


def librdkafka_admin(bootstrap: str, mechanism: str, user: str, password: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
                        "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password})


def test_plain_produce_and_consume_with_kafka_python(sasl_bootstrap):
    topic = harness.unique_topic("sasl")
    producer = python_producer(sasl_bootstrap, "PLAIN", "admin", "admin-secret")
    try:
        for i in range(10):
            producer.send(topic, key=b"k%d" % i, value=b"v%d" % i).get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=sasl_bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="admin", sasl_plain_password="admin-secret",
                             auto_offset_reset="earliest", consumer_timeout_ms=15000, group_id=None)
    try:
        values = [m.value for m in consumer]
    finally:
        consumer.close()
    assert values == [b"v%d" % i for i in range(10)]


def test_plain_with_librdkafka_and_a_wrong_password(sasl_bootstrap):
    md = librdkafka_admin(sasl_bootstrap, "PLAIN", "alice", "alice-secret").list_topics(timeout=20)
    assert md.brokers, "no brokers in metadata"
    bad = librdkafka_admin(sasl_bootstrap, "PLAIN", "alice", "wrong")
    with pytest.raises(KafkaException):
        bad.list_topics(timeout=5)


def test_wrong_password_is_refused_with_kafkas_error(sasl_bootstrap):
    """The SaslAuthenticate answer to a wrong PLAIN password, on the wire: SASL_AUTHENTICATION_FAILED
    with Kafka's message, then the connection closes."""
    with kw.connect(sasl_bootstrap) as s:
        s.sendall(kw.request(17, 1, 1, kw.encode_string("PLAIN")))
        hs = kw.read_response(s)
        assert hs is not None
        assert struct.unpack(">h", hs[4:6])[0] == 0, "SaslHandshake refused PLAIN"
        token = b"\0alice\0wrong"
        s.sendall(kw.request(36, 1, 2, struct.pack(">i", len(token)) + token))
        auth = kw.read_response(s)
        assert auth is not None, "no SaslAuthenticate answer"
        error_code = struct.unpack(">h", auth[4:6])[0]
        (msg_len,) = struct.unpack(">h", auth[6:8])
        message = auth[8:8 + msg_len].decode()
        assert error_code == 58, f"expected SASL_AUTHENTICATION_FAILED, got {error_code} ({message})"
        assert "Invalid username or password" in message
        assert kw.wait_closed(s), "the connection stayed open after a failed authentication"


def test_requests_before_authentication_close_the_connection(sasl_bootstrap):
    with kw.connect(sasl_bootstrap) as s:
        s.sendall(kw.metadata_request_v1(1, []))
        assert kw.wait_closed(s), "Metadata was answered before SASL authentication"


def test_oversized_frame_before_authentication_closes_the_connection(sasl_bootstrap):
    """CVE-2022-34917: a stranger's size prefix is not an allocation request."""
    with kw.connect(sasl_bootstrap) as s:
        s.sendall(struct.pack(">i", 64 << 20) + b"\0" * 64)
        assert kw.wait_closed(s), "a 64 MiB frame before authentication was not refused"


def test_scram_users_from_kafka_configs(sasl_bootstrap, tmp_path, kafka_classpath):
    admin_props = command_config(tmp_path, "PLAIN", "admin", "admin-secret")
    # Kafka refuses two changes of one user in one request (DUPLICATE_RESOURCE), so two runs.
    both = harness.run_java_tool(
        kafka_classpath, CONFIG_COMMAND, "--bootstrap-server", sasl_bootstrap, "--command-config", admin_props,
        "--alter", "--add-config", "SCRAM-SHA-256=[iterations=8192,password=bob-secret],SCRAM-SHA-512=[password=bob-512]",
        "--entity-type", "users", "--entity-name", "bob")
    assert both.returncode != 0 and "A user credential cannot be altered twice in the same request" in both.stderr, \
        both.stdout + both.stderr
    for spec in ("SCRAM-SHA-256=[iterations=8192,password=bob-secret]", "SCRAM-SHA-512=[password=bob-512]"):
        harness.ok(harness.run_java_tool(
            kafka_classpath, CONFIG_COMMAND, "--bootstrap-server", sasl_bootstrap, "--command-config", admin_props,
            "--alter", "--add-config", spec, "--entity-type", "users", "--entity-name", "bob"))
    described = harness.ok(harness.run_java_tool(
        kafka_classpath, CONFIG_COMMAND, "--bootstrap-server", sasl_bootstrap, "--command-config", admin_props,
        "--describe", "--entity-type", "users", "--entity-name", "bob"))
    assert "SCRAM-SHA-256=iterations=8192" in described and "SCRAM-SHA-512=iterations=4096" in described, described

    # bob logs in with either mechanism, from Python and a Java tool. (librdkafka 1.7, Debian's,
    # sends a SCRAM final nonce that Kafka 4.3.1 refuses too: not used for SCRAM here.)
    for mechanism, password in (("SCRAM-SHA-256", "bob-secret"), ("SCRAM-SHA-512", "bob-512")):
        producer = python_producer(sasl_bootstrap, mechanism, "bob", password)
        try:
            producer.send(harness.unique_topic("scram"), b"x").get(timeout=30)
        finally:
            producer.close()
    bob_props = command_config(tmp_path, "SCRAM-SHA-512", "bob", "bob-512")
    harness.ok(harness.run_java_tool(kafka_classpath, CONFIG_COMMAND, "--bootstrap-server", sasl_bootstrap,
                                     "--command-config", bob_props, "--describe", "--entity-type", "topics"))

    with pytest.raises(KafkaError):
        python_producer(sasl_bootstrap, "SCRAM-SHA-256", "bob", "bob-512").close()

    # Deleting a credential: the mechanism stops working, the other one still works.
    harness.ok(harness.run_java_tool(
        kafka_classpath, CONFIG_COMMAND, "--bootstrap-server", sasl_bootstrap, "--command-config", admin_props,
        "--alter", "--delete-config", "SCRAM-SHA-256", "--entity-type", "users", "--entity-name", "bob"))
    described = harness.ok(harness.run_java_tool(
        kafka_classpath, CONFIG_COMMAND, "--bootstrap-server", sasl_bootstrap, "--command-config", admin_props,
        "--describe", "--entity-type", "users", "--entity-name", "bob"))
    assert "SCRAM-SHA-256" not in described and "SCRAM-SHA-512=iterations=4096" in described, described
    with pytest.raises(KafkaError):
        python_producer(sasl_bootstrap, "SCRAM-SHA-256", "bob", "bob-secret").close()
    python_producer(sasl_bootstrap, "SCRAM-SHA-512", "bob", "bob-512").close()


def test_scram_iterations_below_the_minimum_are_refused(sasl_bootstrap, tmp_path, kafka_classpath):
    admin_props = command_config(tmp_path, "PLAIN", "admin", "admin-secret")
    proc = harness.run_java_tool(
        kafka_classpath, CONFIG_COMMAND, "--bootstrap-server", sasl_bootstrap, "--command-config", admin_props,
        "--alter", "--add-config", "SCRAM-SHA-256=[iterations=1024,password=x]", "--entity-type", "users",
        "--entity-name", "carol")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 or "iterations" in out.lower(), out
    assert "Too few iterations" in out or "iterations" in out.lower(), out


def test_acls_with_kafka_acls(sasl_bootstrap, tmp_path, kafka_classpath):
    admin_props = command_config(tmp_path, "PLAIN", "admin", "admin-secret")
    topic = harness.unique_topic("acl")
    base = ["--bootstrap-server", sasl_bootstrap, "--command-config", admin_props]
    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--add", "--allow-principal", "User:alice",
                                     "--operation", "Read", "--operation", "Write", "--topic", topic))
    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--add", "--deny-principal", "User:mallory",
                                     "--operation", "All", "--resource-pattern-type", "prefixed", "--topic",
                                     topic[:6]))
    listed = harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--list", "--topic", topic))
    assert "User:alice" in listed and "READ" in listed and "WRITE" in listed, listed
    listed_all = harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--list"))
    assert "User:mallory" in listed_all and "PREFIXED" in listed_all, listed_all

    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--remove", "--force", "--allow-principal",
                                     "User:alice", "--operation", "Write", "--topic", topic))
    listed = harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--list", "--topic", topic))
    assert "READ" in listed and "WRITE" not in listed, listed
    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--remove", "--force", "--topic", topic))
    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--remove", "--force",
                                     "--resource-pattern-type", "prefixed", "--topic", topic[:6]))
    listed_all = harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--list"))
    assert "User:alice" not in listed_all and "User:mallory" not in listed_all, listed_all


@pytest.mark.timeout(400)
def test_a_cluster_authenticates_between_its_nodes_with_sasl(cluster_factory):
    """Three nodes whose inter-broker listener and controller listener are SASL_PLAINTEXT (PLAIN):
    Raft, broker registration and heartbeats, and followers' fetches all log in with the node's
    own username/password from the listener's JAAS config; records produced with acks=all reach
    every replica and survive the leader's death."""
    node_jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" '
                 'password="broker-secret" user_broker="broker-secret" user_admin="admin-secret";')
    cl = cluster_factory(nodes=3, extra_listeners={LISTENER: "SASL_PLAINTEXT"}, inter_broker_listener=LISTENER,
                         controller_protocol="SASL_PLAINTEXT", extra_config={
                             "sasl.enabled.mechanisms": "PLAIN",
                             "sasl.mechanism.inter.broker.protocol": "PLAIN",
                             "sasl.mechanism.controller.protocol": "PLAIN",
                             "listener.name.sasl_plaintext.plain.sasl.jaas.config": node_jaas,
                             "listener.name.controller.plain.sasl.jaas.config": node_jaas,
                         })
    leader = ch.replicate_then_fail_over(cl, harness.unique_topic("sasl-repl"))
    # Clients log in on the SASL listener with the same users.
    assert librdkafka_admin(cl.nodes[min(set(cl.nodes) - {leader})].bootstrap_for(LISTENER), "PLAIN", "admin",
                            "admin-secret").list_topics(timeout=20).brokers


def librdkafka_produce(bootstrap: str, user: str, password: str, topic: str, count: int = 3) -> list:
    """Produces `count` records as `user` (PLAIN); the delivery errors, None for each success."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                  "sasl.username": user, "sasl.password": password, "message.timeout.ms": 15000, "acks": "all"})
    results = []
    for i in range(count):
        p.produce(topic, value=b"x%d" % i, on_delivery=lambda err, msg: results.append(err))
    p.flush(30)
    return results


def topic_listed(bootstrap: str, user: str, password: str, topic: str) -> bool:
    return topic in librdkafka_admin(bootstrap, "PLAIN", user, password).list_topics(timeout=20).topics


def test_acls_are_enforced_and_a_revoke_applies_to_the_next_request(sasl_bootstrap, tmp_path, kafka_classpath):
    """With allow.everyone.if.no.acl.found, a topic without ACLs is open; once an ACL names the topic
    only the principals it allows may write it, and Metadata hides it from the others."""
    admin_props = command_config(tmp_path, "PLAIN", "admin", "admin-secret")
    base = ["--bootstrap-server", sasl_bootstrap, "--command-config", admin_props]
    topic = harness.unique_topic("authz")
    assert librdkafka_produce(sasl_bootstrap, "admin", "admin-secret", topic) == [None] * 3
    assert librdkafka_produce(sasl_bootstrap, "alice", "alice-secret", topic) == [None] * 3  # no ACL yet

    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--add", "--allow-principal", "User:bob",
                                     "--operation", "Write", "--topic", topic))
    errors = librdkafka_produce(sasl_bootstrap, "alice", "alice-secret", topic, count=1)
    assert len(errors) == 1 and errors[0] is not None and errors[0].code() == 29, errors  # TOPIC_AUTHORIZATION_FAILED
    assert not topic_listed(sasl_bootstrap, "alice", "alice-secret", topic)
    assert topic_listed(sasl_bootstrap, "admin", "admin-secret", topic)  # super user

    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--add", "--allow-principal", "User:alice",
                                     "--operation", "Write", "--topic", topic))
    assert librdkafka_produce(sasl_bootstrap, "alice", "alice-secret", topic, count=1) == [None]
    assert topic_listed(sasl_bootstrap, "alice", "alice-secret", topic)  # WRITE implies DESCRIBE

    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--remove", "--force", "--allow-principal",
                                     "User:alice", "--operation", "Write", "--topic", topic))
    errors = librdkafka_produce(sasl_bootstrap, "alice", "alice-secret", topic, count=1)
    assert len(errors) == 1 and errors[0] is not None and errors[0].code() == 29, errors
    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--remove", "--force", "--topic", topic))

    # kafka-acls.sh itself needs ALTER on the cluster: open while the cluster has no ACL at all
    # (allow.everyone.if.no.acl.found), refused once one names it.
    alice_props = command_config(tmp_path, "PLAIN", "alice", "alice-secret")
    alice_adds = ["--bootstrap-server", sasl_bootstrap, "--command-config", alice_props, "--add",
                  "--allow-principal", "User:alice", "--operation", "All", "--topic", topic]
    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *alice_adds))
    harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--add", "--allow-principal", "User:bob",
                                     "--operation", "Describe", "--cluster"))
    try:
        denied = harness.run_java_tool(kafka_classpath, ACL_COMMAND, *alice_adds)
        assert "ClusterAuthorizationException" in denied.stdout + denied.stderr, denied.stdout + denied.stderr
    finally:
        harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--remove", "--force", "--cluster"))
        harness.ok(harness.run_java_tool(kafka_classpath, ACL_COMMAND, *base, "--remove", "--force", "--topic", topic))
