"""The authorization matrix (issue 14): every API refuses an unauthorised principal with Kafka's
error and serves it once the missing ACL is granted.

A one-node cluster with a SASL_PLAINTEXT listener (PLAIN users admin and alice), the
StandardAuthorizer and allow.everyone.if.no.acl.found=false: alice may do nothing unless an ACL
says so; admin is a super user and creates every resource (topics with records, groups with
committed offsets, transactional ids that have run). tests/tools/AuthzMatrix.java (the Java
client, kafka-clients 4.3.1) runs each case: alice gets exactly the ACLs needed to reach the API
but not the one it checks, tries, gets the missing ACL, tries again; it prints one JSON line per
case and this module checks each line against EXPECTED (the answers of Apache Kafka 4.3.1:
GREGOR_CLUSTER_IMPL=kafka runs the same file against it).

A case's two outcomes are "ok", the simple name of the exception the client raised, or, for APIs
that answer an unauthorised principal quietly, "hidden"/"visible" (the resource left out of or
present in a list) and "ops=[...]" (the authorized operations an API reports).

Not covered here (no client sends them): WriteTxnMarkers, AddPartitionsToTxn v4+, the broker and
raft RPCs (ClusterAction on the cluster in Kafka and Gregor alike).
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import pytest

import cluster_harness as ch
import harness

pytestmark = [pytest.mark.cluster, pytest.mark.java, pytest.mark.timeout(480)]

LISTENER = "SASL_PLAINTEXT"
ADMIN_PASSWORD = "admin-secret"
ALICE_PASSWORD = "alice-secret"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
              f'password="{ADMIN_PASSWORD}" user_admin="{ADMIN_PASSWORD}" user_alice="{ALICE_PASSWORD}";')
MATRIX_CONFIG = {
    "sasl.enabled.mechanisms": "PLAIN",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    # The harness and the node itself use the PLAINTEXT and CONTROLLER listeners (User:ANONYMOUS).
    "super.users": "User:admin;User:ANONYMOUS",
    "allow.everyone.if.no.acl.found": "false",
    # One node: the internal topics have one replica; groups rebalance at once.
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "5",
    **harness.FAST_GROUP_SETS,
}
MATRIX_SOURCE = harness.TOOLS_DIR / "AuthzMatrix.java"
RUN_TIMEOUT_S = 400  # the whole matrix; about 20s on Kafka

TOPIC = "TopicAuthorizationException"
GROUP = "GroupAuthorizationException"
CLUSTER = "ClusterAuthorizationException"
TXN = "TransactionalIdAuthorizationException"
OK = "ok"

# case -> (outcome without the missing ACL, outcome with it). What alice holds before and what is
# granted is in AuthzMatrix.java, case by case.
EXPECTED: dict[str, tuple[str, str]] = {
    # Topics (Metadata hides what alice may not describe; a named topic is refused).
    "metadata_list_topics": ("hidden", "visible"),
    "metadata_topic": (TOPIC, OK),
    "describe_topics": (TOPIC, OK),
    "describe_topic_authorized_ops": ("ops=[DESCRIBE]", "ops=[DESCRIBE, WRITE]"),
    "create_topics": (TOPIC, OK),  # Create on the topic ...
    "create_topics_cluster": (TOPIC, OK),  # ... or on the cluster
    "delete_topics": (TOPIC, OK),
    "create_partitions": (TOPIC, OK),
    "describe_configs_topic": (TOPIC, OK),
    "alter_configs_topic": (TOPIC, OK),
    "delete_records": (TOPIC, OK),
    "list_offsets": (TOPIC, OK),
    "describe_producers": (TOPIC, OK),
    "produce": (TOPIC, OK),
    # InitProducerId without a transactional id: IdempotentWrite on the cluster or Write on any topic.
    "idempotent_produce_topic_write": (CLUSTER, OK),
    "idempotent_produce_cluster_idempotent_write": (CLUSTER, TOPIC),
    # The cluster resource.
    "describe_configs_broker": (CLUSTER, OK),
    "alter_configs_broker": (CLUSTER, OK),
    "describe_log_dirs": (CLUSTER, OK),
    "list_partition_reassignments": (CLUSTER, OK),
    "alter_partition_reassignments": (CLUSTER, OK),
    "elect_leaders": (CLUSTER, OK),
    "update_features": (CLUSTER, OK),
    "describe_acls": (CLUSTER, OK),
    "create_acls": (CLUSTER, OK),
    "delete_acls": (CLUSTER, OK),
    "describe_user_scram_credentials": (CLUSTER, OK),
    "alter_user_scram_credentials": (CLUSTER, OK),
    "describe_client_quotas": (CLUSTER, OK),
    "alter_client_quotas": (CLUSTER, OK),
    "describe_metadata_quorum": (CLUSTER, OK),
    "describe_cluster_authorized_ops": ("ops=[]", "ops=[ALTER, DESCRIBE]"),
    # Groups.
    "offset_fetch_group": (GROUP, "hidden"),  # Describe on the group; the topic is still hidden
    "offset_fetch_topics": ("hidden", "visible"),
    "describe_classic_groups": (GROUP, OK),
    "list_groups": ("hidden", "visible"),  # Describe on the group ...
    "list_groups_cluster": ("hidden", "visible"),  # ... or on the cluster
    "delete_groups": (GROUP, OK),
    "offset_commit_group": (GROUP, OK),
    "offset_commit_topic": (TOPIC, OK),
    "offset_delete_group": (GROUP, OK),
    "offset_delete_topic": (TOPIC, OK),
    "consumer_classic_group": (GROUP, OK),
    "consumer_classic_topic": (TOPIC, OK),
    "consumer_kip848_group": (GROUP, OK),
    "consumer_kip848_topic": (TOPIC, OK),
    # A KIP-848 regex resolves only to topics alice may Describe (the second is hidden, then assigned).
    "consumer_kip848_regex": ("hidden", "visible"),
    "consumer_group_describe_group": (GROUP, OK),
    "consumer_group_describe_topics": (TOPIC, OK),
    "consumer_group_authorized_ops": ("ops=[DESCRIBE]", "ops=[DESCRIBE, READ]"),
    # Transactions.
    "describe_transactions": (TXN, OK),
    "list_transactions": ("hidden", "visible"),
    "fence_producers": (TXN, OK),
    "txn_init_producer_id": (TXN, OK),
    "txn_add_partitions_topic": (TOPIC, OK),
    "txn_add_partitions_revoked": (TXN, OK),
    "txn_end_revoked": (TXN, OK),
    "txn_send_offsets_group": (GROUP, OK),
    # The Java producer has no case for this code in TxnOffsetCommit: a KafkaException quoting it.
    "txn_offset_commit_topic": ("KafkaException(TOPIC_AUTHORIZATION_FAILED)", OK),
}


@pytest.fixture(scope="module")
def authz_node(tmp_path_factory):
    yield from ch.module_cluster(tmp_path_factory.mktemp("authz"), nodes=1,
                                 extra_listeners={LISTENER: "SASL_PLAINTEXT"}, extra_config=MATRIX_CONFIG)


@dataclass
class matrix_run:
    rows: dict[str, dict]  # case -> its JSON line
    ended: str  # "exited 0", "exited N" or "timed out after ...s"
    stdout: str
    stderr: str


def _text(out) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")


@pytest.fixture(scope="module")
def matrix(authz_node, kafka_classpath, tmp_path_factory) -> matrix_run:
    """Runs AuthzMatrix.java once; the cases that finished count even when the run did not."""
    bootstrap = authz_node.nodes[1].bootstrap_for(LISTENER)
    cmd = harness.java_tool_cmd(kafka_classpath, str(MATRIX_SOURCE), bootstrap, ADMIN_PASSWORD, ALICE_PASSWORD)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        stdout, stderr, ended = proc.stdout, proc.stderr, f"exited {proc.returncode}"
    except subprocess.TimeoutExpired as e:
        stdout, stderr, ended = _text(e.stdout), _text(e.stderr), f"timed out after {RUN_TIMEOUT_S}s"
    (tmp_path_factory.mktemp("authz-out") / "matrix.log").write_text(stdout + "\n----- stderr\n" + stderr)
    rows = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["case"]] = row
    print("\n" + "\n".join(f"{c}: {r['denied_with']} / {r['allowed_with']}" for c, r in rows.items()))
    return matrix_run(rows, ended, stdout, stderr)


def test_every_case_reported(matrix):
    assert matrix.ended == "exited 0", (f"AuthzMatrix.java {matrix.ended}\nstdout:\n{matrix.stdout[-3000:]}\n"
                                        f"stderr:\n{matrix.stderr[-6000:]}")
    assert set(matrix.rows) == set(EXPECTED), (
        f"cases without a line: {sorted(set(EXPECTED) - set(matrix.rows))}; "
        f"lines without an expectation: {sorted(set(matrix.rows) - set(EXPECTED))}")


@pytest.mark.parametrize("case", list(EXPECTED))
def test_authorization(matrix, case):
    row = matrix.rows.get(case)
    assert row is not None, f"AuthzMatrix.java printed no line for {case} (it {matrix.ended})"
    denied, allowed = EXPECTED[case]
    api = row["api"]
    assert row["denied_with"] == denied, (
        f"{api} ({case}) without the missing ACL: expected {denied}, got {row['denied_with']}; {row['detail']}")
    assert row["allowed_with"] == allowed, (
        f"{api} ({case}) once the ACL is granted: expected {allowed}, got {row['allowed_with']}; {row['detail']}")
