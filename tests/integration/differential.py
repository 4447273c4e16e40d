"""The differential check (issue 15, item 6): the same requests sent to Apache Kafka and to Gregor,
the responses decoded field by field from Kafka's own schemas (schema_codec), normalised where a
difference says nothing about the protocol (named rules below, each justified), and compared.
Every difference not listed in differential_accepted.txt fails the check; an accepted entry that
no longer matches anything is reported as stale (and fails the check too, GREGOR_DIFF_STALE=warn
only prints it).

The corpus, sent in this order on one connection per broker:
1. the same state set up through the same requests: topics diff-a (3 partitions), diff-b (1),
   the topics the captures use, records with fixed keys, values and timestamps, a committed offset
   of group diff-group, the transaction coordinator and a producer id block made ready;
2. typical requests: for every API key and version both brokers advertise in ApiVersions, one or
   more deterministic requests naming that state (typical_requests below: per-API partial bodies
   completed by `complete` from the schema with neutral values);
3. the captured client requests (tests/unit/protocol/captured/kafka-4.3.1.txt) of versions both
   advertise, replayed per client in capture order; the ids the broker handed out (member ids,
   producer ids, fetch sessions, topic ids) are learned from each live response and substituted
   in the requests that follow.

GREGOR_DIFF_DUMP=2,27 prints the requests and both responses of those API keys (for triage).

Run: `python3 differential.py` (starts Gregor from GREGOR_BIN or build/bin/gregor and Kafka 4.3.1
through tests/tools/run-reference-kafka.sh), or `--gregor HOST:PORT --kafka HOST:PORT` for two
running brokers (fresh ones: the check creates its state and expects none of its own). `make
differential`; test_differential.py runs it under pytest with GREGOR_DIFFERENTIAL=1.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field as dc_field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import kafka_wire  # noqa: E402
import schema_codec  # noqa: E402
from schema_codec import UNKNOWN_TAGS, field_spec  # noqa: E402

REPO_ROOT = HERE.parents[1]
ACCEPTED_PATH = HERE / "differential_accepted.txt"
CAPTURES_PATH = REPO_ROOT / "tests" / "unit" / "protocol" / "captured" / "kafka-4.3.1.txt"
RUN_REFERENCE_KAFKA = REPO_ROOT / "tests" / "tools" / "run-reference-kafka.sh"
RESPONSE_TIMEOUT_S = 30.0
CLIENT_ID = "gregor-differential"

# The state both brokers get before the corpus.
TOPICS = {"diff-a": 3, "diff-b": 1}
GROUP = "diff-group"
TXN_ID = "diff-txn"
RECORD_TIMESTAMP_MS = 1_600_000_000_000  # fixed: far from the clock, so no timestamp rule touches it
MIB = 1024 * 1024

API = {"Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8, "OffsetFetch": 9,
       "FindCoordinator": 10, "JoinGroup": 11, "ApiVersions": 18, "CreateTopics": 19, "DeleteTopics": 20,
       "InitProducerId": 22}
# Every API both brokers advertise is sent; the ones that could change the cluster under the run
# name things that do not exist (voter 999, broker 999, an unknown feature) or validate only.


# ---- brokers

class connection:
    """One socket to one broker; request() encodes, sends, reads and decodes one exchange."""

    def __init__(self, name: str, bootstrap: str, schemas: schema_codec.schema_set):
        self.name = name
        self.bootstrap = bootstrap
        self.schemas = schemas
        self.sock: socket.socket | None = None
        self.correlation_id = 0
        self.topic_ids: dict[str, bytes] = {}  # learned from Metadata
        self.advertised: dict[int, tuple[int, int]] = {}

    def _socket(self) -> socket.socket:
        if self.sock is None:
            self.sock = kafka_wire.connect(self.bootstrap, timeout_s=RESPONSE_TIMEOUT_S)
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send_only(self, api_key: int, version: int, body: dict, client_id: str | None = CLIENT_ID) -> None:
        """A request that has no response (Produce with acks=0)."""
        self.correlation_id += 1
        frame = schema_codec.encode_request(self.schemas.request(api_key), version, self.correlation_id,
                                            body, client_id=client_id)
        try:
            self._socket().sendall(frame)
        except OSError:
            self.close()

    def request(self, api_key: int, version: int, body: dict, client_id: str | None = CLIENT_ID):
        """The decoded response body, or a string saying why there is none (closed, timed out,
        undecodable). A failed exchange closes the socket; the next request opens another."""
        self.correlation_id += 1
        frame = schema_codec.encode_request(self.schemas.request(api_key), version, self.correlation_id,
                                            body, client_id=client_id)
        try:
            self._socket().sendall(frame)
        except OSError as exc:
            self.close()
            return f"<no response: {type(exc).__name__}>"
        return self.receive(api_key, version)

    def receive(self, api_key: int, version: int):
        """The decoded response to the request sent last (by request(), or by send_only() for one
        the broker holds, such as a JoinGroup waiting for the rest of the group), as request()."""
        if self.sock is None:
            return "<connection closed>"
        try:
            payload = kafka_wire.read_response(self.sock)
        except OSError as exc:
            self.close()
            return f"<no response: {type(exc).__name__}>"
        if payload is None:
            self.close()
            return "<connection closed>"
        msg = self.schemas.response(api_key)
        try:
            correlation_id, pos = schema_codec.decode_response_header(payload, api_key, version,
                                                                      msg.is_flexible(version))
            if correlation_id != self.correlation_id:
                self.close()
                return f"<correlation id {correlation_id}, expected {self.correlation_id}>"
            if api_key == API["ApiVersions"] and len(payload) >= pos + 2 and \
                    struct.unpack_from(">h", payload, pos)[0] == 35 and version > 0:
                return schema_codec.decode_body(msg, 0, payload, pos)  # UNSUPPORTED_VERSION answers v0
            return schema_codec.decode_body(msg, version, payload, pos)
        except schema_codec.decode_error as exc:
            return f"<undecodable response: {exc}>"


def api_versions(conn: connection) -> dict[int, tuple[int, int]]:
    resp = conn.request(API["ApiVersions"], 3, {"ClientSoftwareName": "gregor-differential",
                                                "ClientSoftwareVersion": "1"})
    if not isinstance(resp, dict) or resp["ErrorCode"] != 0:
        raise RuntimeError(f"{conn.name}: ApiVersions failed: {resp!r}")
    return {k["ApiKey"]: (k["MinVersion"], k["MaxVersion"]) for k in resp["ApiKeys"]}


# ---- request bodies: partial values completed from the schema

@dataclass(frozen=True)
class topic_id_of:
    """A placeholder for a topic's id in a request body: resolved per broker when sent."""
    name: str


def neutral(f: field_spec, version: int, topic: str):
    """The value a field gets when the typical request does not say: the state's names for entity
    fields, no producer, no wait, generous byte limits, zeros, empty strings and one-element arrays
    (so every nested struct is exercised)."""
    t = f.element_type
    if f.is_array:
        if f.is_struct:
            return [complete(f.fields, version, {}, topic)]
        if f.entity_type == "topicName":
            return [topic]
        if t in ("int32", "int16", "int64") and re.search(r"Partition|Index", f.name):
            return [0]
        return []
    if f.is_struct:
        return complete(f.fields, version, {}, topic)
    if f.entity_type == "topicName":
        return topic
    if f.entity_type == "groupId":
        return GROUP
    if f.entity_type == "transactionalId":
        return None if f.is_nullable(version) else TXN_ID
    if f.entity_type == "brokerId":
        return -1 if f.name == "ReplicaId" else 1
    if f.entity_type == "producerId" or f.name in ("ProducerId", "ProducerEpoch"):
        return -1
    if t == "uuid":
        return topic_id_of(topic) if f.name == "TopicId" else bytes(16)
    if t == "string":
        return None if f.is_nullable(version) else ""
    if t in ("bytes", "records"):
        return b""
    if t == "bool":
        return False
    if t == "float64":
        return 0.0
    if re.search(r"TimeoutMs$", f.name):
        return 10_000
    if re.search(r"MaxBytes$", f.name):
        return MIB
    if re.search(r"(LeaderEpoch|Epoch)$", f.name):
        return -1
    return 0


TOPIC_ALIASES = {"Topic", "Name", "TopicName", "TopicId"}


def complete(fields: list[field_spec], version: int, partial: dict, topic: str = "diff-a") -> dict:
    """partial with every non-tagged field present at that version filled in (neutral), array
    elements and structs completed recursively; partial's fields absent from the version dropped;
    tagged fields only when partial names them."""
    # Older schemas spell some names in camel case (CreateTopics' timeoutMs): partial names match
    # case-insensitively. A name no field of the struct has (at any version) is a typo, except the
    # topic aliases a partial carries to fit several APIs.
    by_lower = {f.name.lower(): f.name for f in fields}
    unknown = [k for k in partial if k.lower() not in by_lower and k not in TOPIC_ALIASES and k != UNKNOWN_TAGS]
    if unknown:
        raise ValueError(f"{unknown} are not fields of {[f.name for f in fields]}")
    partial = {by_lower.get(k.lower(), k): v for k, v in partial.items()}
    out: dict = {}
    for f in fields:
        if not f.present(version):
            continue
        if f.name not in partial:
            if not f.is_tagged(version):
                out[f.name] = neutral(f, version, topic)
            continue
        value = partial[f.name]
        if value is not None and f.is_struct:
            if f.is_array:
                value = [complete(f.fields, version, item, topic) for item in value]
            else:
                value = complete(f.fields, version, value, topic)
        out[f.name] = value
    return out


def resolve(value, conn: connection):
    """A body with its placeholders resolved for one broker."""
    if isinstance(value, topic_id_of):
        return conn.topic_ids.get(value.name, bytes(16))
    if isinstance(value, dict):
        return {k: resolve(v, conn) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, conn) for v in value]
    return value


def batch(keys_values: list[tuple[bytes, bytes]], timestamp_ms: int = RECORD_TIMESTAMP_MS) -> bytes:
    records = b"".join(kafka_wire.encode_record(i, k, v, timestamp_delta=i) for i, (k, v) in enumerate(keys_values))
    return kafka_wire.record_batch(records, len(keys_values), timestamp_ms=timestamp_ms)


def typical_requests(api_key: int, version: int) -> list[dict]:
    """Partial bodies of the typical requests of one API at one version (completed by `complete`)."""
    a, b = "diff-a", "diff-b"
    t = {"Topic": a, "Name": a, "TopicName": a, "TopicId": topic_id_of(a)}
    if api_key == 0:  # Produce: two records to diff-a partition 1 (every version appends, on both)
        # Versions 0-2 carry magic 0/1 batches: Kafka 4 closes the connection on this magic-2 batch
        # (an accepted difference), so they go to diff-b, keeping diff-a's offsets the same on both.
        target = t if version >= 3 else {"Name": b, "TopicId": topic_id_of(b)}
        return [{"TransactionalId": None, "Acks": -1, "TimeoutMs": 10_000,
                 "TopicData": [{**target, "PartitionData": [{"Index": 1 if version >= 3 else 0, "Records": batch(
                     [(b"pk%d" % version, b"pv%d" % version), (b"pk", b"")])}]}]}]
    if api_key == 1:  # Fetch: the setup's records, from the start and from the middle; read committed
        def fetch(offset, isolation=0):
            return {"ReplicaId": -1, "ReplicaState": {"ReplicaId": -1, "ReplicaEpoch": -1}, "MaxWaitMs": 0,
                    "MinBytes": 0, "MaxBytes": MIB, "IsolationLevel": isolation, "SessionId": 0, "SessionEpoch": -1,
                    "Topics": [{**t, "Partitions": [{"Partition": 0, "FetchOffset": offset, "LogStartOffset": -1,
                                                    "CurrentLeaderEpoch": -1, "LastFetchedEpoch": -1,
                                                    "PartitionMaxBytes": MIB}]}],
                    "ForgottenTopicsData": [], "RackId": ""}
        return [fetch(0), fetch(2)] + ([fetch(0, isolation=1)] if version >= 4 else [])
    if api_key == 2:  # ListOffsets: latest, earliest, max timestamp, and by a record's timestamp
        # MAX_TIMESTAMP (-3) asks partition 1, so partition 0's answers never depend on it (below
        # v7 the brokers once differed there: Gregor now answers UNSUPPORTED_VERSION, as Kafka).
        return [{"ReplicaId": -1, "IsolationLevel": 0, "Topics": [{**t, "Partitions": [
            {"PartitionIndex": 1 if ts == -3 else 0, "CurrentLeaderEpoch": -1, "Timestamp": ts}]}]}
            for ts in (-1, -2, -3, RECORD_TIMESTAMP_MS + 2)]
    if api_key == 3:  # Metadata: the state's topics and a missing one, then all topics
        # Versions 0-3 always ask for auto-creation, which Kafka does asynchronously (through its
        # controller, answering UNKNOWN_TOPIC_OR_PARTITION meanwhile) and Gregor before answering:
        # a missing topic is named from version 4 on only, with AllowAutoTopicCreation false.
        missing = ["diff-missing"] if version >= 4 else []
        names = {"Topics": [{"Name": n, "TopicId": bytes(16)} for n in [a, b] + missing],
                 "AllowAutoTopicCreation": False}
        return [names, {"Topics": None, "AllowAutoTopicCreation": False}] if version >= 1 else [names]
    if api_key == 8:  # OffsetCommit: a simple commit (no generation) to a group of its own
        return [{"GroupId": "diff-commit", "GenerationIdOrMemberEpoch": -1, "MemberId": "",
                 "GroupInstanceId": None, "RetentionTimeMs": -1,
                 "Topics": [{**t, "Partitions": [{"PartitionIndex": 0, "CommittedOffset": 2 + version,
                                                   "CommittedLeaderEpoch": -1,
                                                   "CommittedMetadata": "m"}]}]}]
    if api_key == 9:  # OffsetFetch: the committed group, its partitions and all of them
        parts = [{"Name": a, "TopicId": topic_id_of(a), "PartitionIndexes": [0, 1, 2]}]
        some = {"GroupId": GROUP, "Topics": parts, "RequireStable": False,
                "Groups": [{"GroupId": GROUP, "MemberId": None, "MemberEpoch": -1, "Topics": parts}]}
        every = {"GroupId": GROUP, "Topics": None, "RequireStable": False,  # null Topics: from version 2
                 "Groups": [{"GroupId": GROUP, "MemberId": None, "MemberEpoch": -1, "Topics": None}]}
        return [some, every] if version >= 2 else [some]
    if api_key == 10:  # FindCoordinator: the group's
        return [{"Key": GROUP, "KeyType": 0, "CoordinatorKeys": [GROUP]}]
    if api_key == 11:  # JoinGroup: a new member of a group of its own
        subscription = b"\x00\x00" + b"\x00\x00\x00\x01\x00\x06diff-a" + b"\x00\x00\x00\x00"  # v0: [diff-a]
        return [{"GroupId": f"diff-join-{version}", "SessionTimeoutMs": 10_000, "RebalanceTimeoutMs": 10_000,
                 "MemberId": "", "GroupInstanceId": None, "ProtocolType": "consumer",
                 "Protocols": [{"Name": "range", "Metadata": subscription}], "Reason": None}]
    # Heartbeat, LeaveGroup, SyncGroup: an unknown member of a group with no members.
    member = {"GroupId": GROUP, "MemberId": "diff-unknown-member"}
    if api_key == 12:
        return [{**member, "GenerationId": 1, "GroupInstanceId": None}]
    if api_key == 13:
        return [{**member, "Members": [{"MemberId": "diff-unknown-member", "GroupInstanceId": None, "Reason": None}]}]
    if api_key == 14:
        return [{**member, "GenerationId": 1, "GroupInstanceId": None, "ProtocolType": "consumer",
                 "ProtocolName": "range", "Assignments": []}]
    if api_key == 15:  # DescribeGroups
        return [{"Groups": [GROUP, "diff-missing-group"], "IncludeAuthorizedOperations": False}]
    if api_key == 16:  # ListGroups
        return [{"StatesFilter": [], "TypesFilter": []}]
    if api_key == 17:  # SaslHandshake on a PLAINTEXT listener
        return [{"Mechanism": "PLAIN"}]
    if api_key == 18:
        return [{"ClientSoftwareName": "gregor-differential", "ClientSoftwareVersion": "1.0"}]
    if api_key == 19:  # CreateTopics: a new topic, an existing one, an invalid name
        def create(name, partitions):
            return {"Name": name, "NumPartitions": partitions, "ReplicationFactor": 1, "Assignments": [],
                    "Configs": [{"Name": "retention.ms", "Value": "3600000"}]}
        return [{"Topics": [create(f"diff-new-{version}", 2), create(a, 1), create("bad/name", 1)],
                 "TimeoutMs": 10_000, "ValidateOnly": False}]
    if api_key == 20:  # DeleteTopics: CreateTopics' topic of the same version, and a missing one
        names = [f"diff-new-{version}", "diff-missing"]
        return [{"TopicNames": names, "Topics": [{"Name": n, "TopicId": bytes(16)} for n in names],
                 "TimeoutMs": 10_000}]
    if api_key == 21:  # DeleteRecords: nothing below offset 0 of diff-b
        return [{"Topics": [{"Name": b, "Partitions": [{"PartitionIndex": 0, "Offset": 0}]}], "TimeoutMs": 10_000}]
    if api_key == 22:  # InitProducerId: an idempotent producer
        return [{"TransactionalId": None, "TransactionTimeoutMs": 60_000, "ProducerId": -1, "ProducerEpoch": -1}]
    if api_key == 23:  # OffsetForLeaderEpoch
        return [{"ReplicaId": -1, "Topics": [{"Topic": a, "Partitions": [
            {"Partition": 0, "CurrentLeaderEpoch": -1, "LeaderEpoch": 0}]}]}]
    # DescribeAcls, DeleteAcls: topic diff-a, any principal, any operation.
    acl_filter = {"ResourceTypeFilter": 2, "ResourceNameFilter": a, "PatternTypeFilter": 3, "PrincipalFilter": None,
                  "HostFilter": None, "Operation": 1, "PermissionType": 1}
    if api_key == 27:  # WriteTxnMarkers for no producer (both refuse it, UNKNOWN_SERVER_ERROR), to diff-b
        return [{"Markers": [{"ProducerId": -1, "ProducerEpoch": -1, "TransactionResult": True,
                              "Topics": [{"Name": b, "PartitionIndexes": [0]}], "CoordinatorEpoch": 0}]}]
    if api_key == 29:
        return [acl_filter]
    if api_key == 31:
        return [{"Filters": [acl_filter]}]
    if api_key == 30:  # CreateAcls
        return [{"Creations": [{"ResourceType": 2, "ResourceName": a, "ResourcePatternType": 3,
                                "Principal": "User:diff", "Host": "*", "Operation": 3, "PermissionType": 3}]}]
    if api_key == 32:  # DescribeConfigs: two of a topic's configs
        return [{"Resources": [{"ResourceType": 2, "ResourceName": a,
                                "ConfigurationKeys": ["retention.ms", "cleanup.policy"]}],
                 "IncludeSynonyms": False, "IncludeDocumentation": False}]
    if api_key == 33:  # AlterConfigs, validate only
        return [{"Resources": [{"ResourceType": 2, "ResourceName": b,
                                "Configs": [{"Name": "retention.ms", "Value": "3600000"}]}], "ValidateOnly": True}]
    if api_key == 35:  # DescribeLogDirs
        return [{"Topics": [{"Topic": a, "Partitions": [0]}]}]
    if api_key == 37:  # CreatePartitions, validate only
        return [{"Topics": [{"Name": b, "Count": 2, "Assignments": None}], "TimeoutMs": 10_000,
                 "ValidateOnly": True}]
    if api_key == 42:  # DeleteGroups: a group that does not exist
        return [{"GroupsNames": ["diff-missing-group"]}]
    if api_key == 43:  # ElectLeaders: a partition whose leader is already the preferred one
        return [{"ElectionType": 0, "TopicPartitions": [{"Topic": a, "Partitions": [0]}], "TimeoutMs": 10_000}]
    if api_key == 44:  # IncrementalAlterConfigs, validate only
        return [{"Resources": [{"ResourceType": 2, "ResourceName": b, "Configs": [
            {"Name": "retention.ms", "ConfigOperation": 0, "Value": "3600000"}]}], "ValidateOnly": True}]
    if api_key == 45:  # AlterPartitionReassignments: cancel one that is not in progress
        return [{"TimeoutMs": 10_000, "AllowReplicationFactorChange": True,
                 "Topics": [{"Name": a, "Partitions": [{"PartitionIndex": 0, "Replicas": None}]}]}]
    if api_key == 46:  # ListPartitionReassignments: all
        return [{"TimeoutMs": 10_000, "Topics": None}]
    if api_key == 47:  # OffsetDelete: a committed offset of an empty group
        return [{"GroupId": "diff-commit", "Topics": [{"Name": a, "Partitions": [{"PartitionIndex": 1}]}]}]
    if api_key == 48:  # DescribeClientQuotas: all
        return [{"Components": [], "Strict": False}]
    if api_key == 49:  # AlterClientQuotas, validate only
        return [{"Entries": [{"Entity": [{"EntityType": "client-id", "EntityName": "diff"}],
                              "Ops": [{"Key": "producer_byte_rate", "Value": 1024.0, "Remove": False}]}],
                 "ValidateOnly": True}]
    if api_key == 50:  # DescribeUserScramCredentials: a user that has none
        return [{"Users": [{"Name": "diff-user"}]}]
    if api_key == 51:  # AlterUserScramCredentials: nothing to do
        return [{"Deletions": [], "Upsertions": []}]
    if api_key == 55:  # DescribeQuorum
        return [{"Topics": [{"TopicName": "__cluster_metadata", "Partitions": [{"PartitionIndex": 0}]}]}]
    if api_key == 57:  # UpdateFeatures: an unknown feature, validate only
        return [{"TimeoutMs": 10_000, "ValidateOnly": True,
                 "FeatureUpdates": [{"Feature": "diff.unknown.feature", "MaxVersionLevel": 1, "AllowDowngrade": False,
                                     "UpgradeType": 1}]}]
    if api_key == 60:  # DescribeCluster
        return [{"IncludeClusterAuthorizedOperations": False, "EndpointType": 1, "IncludeFencedBrokers": False}]
    if api_key == 61:  # DescribeProducers
        return [{"Topics": [{"Name": a, "PartitionIndexes": [0, 1]}]}]
    if api_key == 64:  # UnregisterBroker: a broker that does not exist
        return [{"BrokerId": 999}]
    if api_key == 65:  # DescribeTransactions: an unknown transactional id
        return [{"TransactionalIds": [TXN_ID]}]
    if api_key == 66:  # ListTransactions: all
        return [{"StateFilters": [], "ProducerIdFilters": [], "DurationFilter": -1, "TransactionalIdPattern": None}]
    if api_key == 68:  # ConsumerGroupHeartbeat: a new member subscribing to diff-a
        return [{"GroupId": f"diff-cg-{version}", "MemberId": "diff-member-000000000000", "MemberEpoch": 0,
                 "InstanceId": None, "RackId": None, "RebalanceTimeoutMs": 10_000, "SubscribedTopicNames": [a],
                 "SubscribedTopicRegex": None, "ServerAssignor": None, "TopicPartitions": []}]
    if api_key == 69:  # ConsumerGroupDescribe
        return [{"GroupIds": [GROUP, "diff-missing-group"], "IncludeAuthorizedOperations": False}]
    if api_key == 75:  # DescribeTopicPartitions
        return [{"Topics": [{"Name": a}, {"Name": "diff-missing"}], "ResponsePartitionLimit": 2000, "Cursor": None}]
    # AddRaftVoter, RemoveRaftVoter: a voter that does not exist.
    voter = {"ClusterId": None, "VoterId": 999, "VoterDirectoryId": bytes(16)}
    if api_key == 80:
        return [{**voter, "TimeoutMs": 10_000, "AckWhenCommitted": True,
                 "Listeners": [{"Name": "CONTROLLER", "Host": "127.0.0.1", "Port": 1}]}]
    if api_key == 81:
        return [voter]
    return [{}]  # every field neutral (complete)


# ---- the state

def setup_state(conn: connection, capture_topics: list[str]) -> None:
    """The same topics, records and committed offset on a broker, through the same requests."""
    # Retention off on every topic: the captures' records carry the capture day's timestamps, which
    # time-based retention would delete on one broker and not yet on the other.
    no_retention = [{"Name": "retention.ms", "Value": "-1"}]
    topics = [{"Name": n, "NumPartitions": p, "ReplicationFactor": 1, "Assignments": [], "Configs": no_retention}
              for n, p in list(TOPICS.items()) + [(n, 1) for n in capture_topics]]
    # A broker that just started may time out (REQUEST_TIMED_OUT, 7) while its controller settles;
    # a topic a timed-out attempt made anyway then answers TOPIC_ALREADY_EXISTS (36).
    deadline = time.monotonic() + 60
    while topics:
        resp = conn.request(API["CreateTopics"], 5, complete(conn.schemas.request(19).fields, 5,
                                                            {"Topics": topics, "TimeoutMs": 30_000}))
        if not isinstance(resp, dict) or time.monotonic() > deadline:
            raise RuntimeError(f"{conn.name}: CreateTopics failed: {resp!r}")
        errors = {t["Name"]: t["ErrorCode"] for t in resp["Topics"]}
        if any(e not in (0, 7, 36) for e in errors.values()):
            raise RuntimeError(f"{conn.name}: CreateTopics failed: {resp!r}")
        topics = [t for t in topics if errors[t["Name"]] == 7]
        if topics:
            time.sleep(0.5)
    wait_for_leaders(conn, list(TOPICS) + capture_topics)
    for partition in range(3):
        records = batch([(b"k%d-%d" % (partition, i), b"v%d-%d" % (partition, i)) for i in range(5)])
        body = {"TransactionalId": None, "Acks": -1, "TimeoutMs": 10_000,
                "TopicData": [{"Name": "diff-a", "PartitionData": [{"Index": partition, "Records": records}]}]}
        # NOT_LEADER_OR_FOLLOWER (6) while a new partition's leadership is still being applied.
        deadline = time.monotonic() + 30
        while True:
            resp = conn.request(API["Produce"], 9, complete(conn.schemas.request(0).fields, 9, body))
            err = resp["Responses"][0]["PartitionResponses"][0]["ErrorCode"] if isinstance(resp, dict) else resp
            if err == 0:
                break
            if err != 6 or time.monotonic() > deadline:
                raise RuntimeError(f"{conn.name}: Produce failed: {resp!r}")
            time.sleep(0.2)
    coordinator_ready(conn, GROUP)
    # The transaction coordinator (Kafka creates __transaction_state on the first FindCoordinator
    # of key type 1, Gregor at start) and the producer id block (Kafka's first idempotent
    # InitProducerId answers COORDINATOR_LOAD_IN_PROGRESS while it asks its controller for one).
    coordinator_ready(conn, TXN_ID, key_type=1)
    deadline = time.monotonic() + 30
    while True:
        resp = conn.request(API["InitProducerId"], 4, {"TransactionalId": None, "TransactionTimeoutMs": 60_000,
                                                       "ProducerId": -1, "ProducerEpoch": -1})
        if isinstance(resp, dict) and resp["ErrorCode"] == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{conn.name}: InitProducerId failed: {resp!r}")
        time.sleep(0.2)
    body = {"GroupId": GROUP, "GenerationIdOrMemberEpoch": -1, "MemberId": "", "GroupInstanceId": None,
            "Topics": [{"Name": "diff-a", "Partitions": [{"PartitionIndex": p, "CommittedOffset": 3,
                                                          "CommittedLeaderEpoch": -1, "CommittedMetadata": "setup"}
                                                         for p in range(3)]}]}
    resp = conn.request(API["OffsetCommit"], 8, complete(conn.schemas.request(8).fields, 8, body))
    errors = {p["ErrorCode"] for p in resp["Topics"][0]["Partitions"]} if isinstance(resp, dict) else {resp}
    if errors != {0}:
        raise RuntimeError(f"{conn.name}: OffsetCommit failed: {resp!r}")


def learn_topic_ids(conn: connection) -> None:
    resp = conn.request(API["Metadata"], 12, {"Topics": None, "AllowAutoTopicCreation": False,
                                              "IncludeTopicAuthorizedOperations": False})
    if isinstance(resp, dict):
        conn.topic_ids = {t["Name"]: t["TopicId"] for t in resp["Topics"] if t["ErrorCode"] == 0}


def wait_for_leaders(conn: connection, names: list[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = conn.request(API["Metadata"], 12, {"Topics": [{"Name": n, "TopicId": bytes(16)} for n in names],
                                                  "AllowAutoTopicCreation": False,
                                                  "IncludeTopicAuthorizedOperations": False})
        if isinstance(resp, dict) and all(t["ErrorCode"] == 0 and t["Partitions"] and
                                          all(p["LeaderId"] >= 0 for p in t["Partitions"]) for t in resp["Topics"]):
            conn.topic_ids.update({t["Name"]: t["TopicId"] for t in resp["Topics"]})
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{conn.name}: topics {names} have no leaders after {timeout_s}s: {resp!r}")
        time.sleep(0.2)


def coordinator_ready(conn: connection, group: str, key_type: int = 0, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        resp = conn.request(API["FindCoordinator"], 3, {"Key": group, "KeyType": key_type})
        if isinstance(resp, dict) and resp["ErrorCode"] == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{conn.name}: no coordinator for {group}: {resp!r}")
        time.sleep(0.2)


# ---- captured client requests

@dataclass
class captured:
    label: str
    api_key: int
    version: int
    client_id: str | None
    body: dict
    response: dict | None  # the response Kafka 4.3.1 gave the client, to learn its ids from


def load_captures(schemas: schema_codec.schema_set, path: Path = CAPTURES_PATH) -> list[captured]:
    out = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, key, version, req_hex, resp_hex = line.split()
        key, version = int(key), int(version)
        if version not in schemas.request(key).valid:
            continue  # a client's newer version Kafka answered with UNSUPPORTED_VERSION (ApiVersions v5)
        _, _, _, client_id, body = schema_codec.decode_request(schemas, bytes.fromhex(req_hex))
        response = None
        if resp_hex != "-":
            payload = bytes.fromhex(resp_hex)
            msg = schemas.response(key)
            _, pos = schema_codec.decode_response_header(payload, key, version, msg.is_flexible(version))
            response = schema_codec.decode_body(msg, version, payload, pos)
        out.append(captured(label, key, version, client_id, body, response))
    return out


def capture_topics(captures: list[captured], schemas: schema_codec.schema_set) -> list[str]:
    """The topics the captures use but do not create themselves: made by the setup."""
    used, created = set(), set()
    for c in captures:
        names = set(entity_values(schemas.request(c.api_key).fields, c.version, c.body, "topicName"))
        (created if c.api_key == API["CreateTopics"] else used).update(names)
    return sorted(used - created)


def entity_values(fields: list[field_spec], version: int, value: dict, entity: str):
    for f in fields:
        if f.name not in value or value[f.name] is None:
            continue
        v = value[f.name]
        if f.entity_type == entity:
            yield from (v if f.is_array else [v])
        elif f.is_struct:
            for item in (v if f.is_array else [v]):
                yield from entity_values(f.fields, version, item, entity)


# Fields whose values a broker hands out (the ids a client then sends back): learned by walking a
# captured response and the live one side by side, then substituted in the captured requests.
LEARNED_FIELDS = {"MemberId", "LeaderId", "ProducerId", "ProducerEpoch", "SessionId", "TopicId", "GenerationId",
                  "MemberEpoch"}


def learn(captured_value, live_value, into: dict) -> None:
    if isinstance(captured_value, dict) and isinstance(live_value, dict):
        for k, v in captured_value.items():
            if k in live_value:
                if k in LEARNED_FIELDS and not isinstance(v, (dict, list)):
                    if v != live_value[k] and v not in (None, "", -1, 0, bytes(16)):
                        into[(k, v)] = live_value[k]
                else:
                    learn(v, live_value[k], into)
    elif isinstance(captured_value, list) and isinstance(live_value, list):
        for a, b in zip(captured_value, live_value):
            learn(a, b, into)


def substitute(value, learned: dict, field_name: str = ""):
    """A captured request with the ids learned from earlier live responses in place of Kafka's of
    the capture day. A member id comes back as MemberId or as JoinGroup's LeaderId; a generation as
    GenerationId or OffsetCommit's GenerationIdOrMemberEpoch."""
    if isinstance(value, dict):
        return {k: substitute(v, learned, k) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, learned, field_name) for v in value]
    names = [field_name]
    if field_name == "MemberId":
        names.append("LeaderId")
    if field_name.startswith("GenerationId"):
        names.append("GenerationId")
    for name in names:
        if (name, value) in learned:
            return learned[(name, value)]
    return value


# ---- normalisation (each rule says why the difference it removes means nothing)

TIMESTAMP_FIELD = re.compile(r"(Timestamp|TimeMs|Time)$")
CLOCK_WINDOW_MS = 2 * 24 * 3600 * 1000


def normalise(value, conn: connection, name: str = ""):
    """A response with the values that differ between any two brokers by nature replaced by
    placeholders:
    - ThrottleTimeMs → 0: quota throttling depends on load and timing, not on the request;
    - Port → "PORT": the two brokers listen on different ports (of the same host);
    - ClusterId → "CLUSTER": made at random when each cluster is formatted;
    - uuids (TopicId, ...): the topic's name ("id:diff-a") when the broker's metadata knows it, the
      zero uuid kept, any other → "UUID": ids are random per cluster, what matters is which topic;
    - ProducerId ≥ 0 → "PID": allocated from a counter each broker starts where it likes;
    - SessionId ≠ 0 (Fetch) → "SESSION": random per broker;
    - MemberId/LeaderId/MemberIds strings ≠ "" → "MEMBER": the coordinator makes them (uuids);
    - a *Timestamp/*TimeMs/*Time value within two days of now → "NOW": the wall clock at the
      broker (the records' own timestamps are fixed far from now and compared as they are);
    - LogDir → "LOGDIR": each broker's data directory;
    - UsableBytes ≥ 0 → "USABLE": the free space of the disk both brokers' directories are on,
      which anything writing to that disk changes between the two requests;
    - record batches → decoded (batch header fields and records), the CRC dropped (it is derived
      from what is compared).
    """
    if isinstance(value, dict):
        return {k: normalise(v, conn, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, conn, name) for v in value]
    if name == "ThrottleTimeMs":
        return 0
    if name == "Port":
        return "PORT"
    if name == "ClusterId" and value is not None:
        return "CLUSTER"
    if isinstance(value, bytes) and len(value) == 16 and name.endswith("Id"):
        if value == bytes(16):
            return value
        names = {v: k for k, v in conn.topic_ids.items()}
        return f"id:{names[value]}" if value in names else "UUID"
    if name == "ProducerId" and isinstance(value, int) and value >= 0:
        return "PID"
    if name == "SessionId" and value:
        return "SESSION"
    if name in ("MemberId", "LeaderId", "Leader", "MemberIds") and isinstance(value, str) and value:
        return "MEMBER"
    if TIMESTAMP_FIELD.search(name) and isinstance(value, int) and \
            abs(value - time.time() * 1000) < CLOCK_WINDOW_MS:
        return "NOW"
    if name == "LogDir" and isinstance(value, str):
        return "LOGDIR"
    if name == "UsableBytes" and isinstance(value, int) and value >= 0:
        return "USABLE"
    if name in ("Records",) and isinstance(value, bytes):
        return decode_batches(value)
    return value


def decode_batches(data: bytes):
    """Record batches (magic 2) as dicts; a compressed batch's records stay bytes."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if end > len(data):
            out.append({"partial batch": len(data) - pos})
            break
        (epoch, magic, _crc, attributes, last_delta, first_ts, max_ts, pid, pepoch, base_seq, count) = \
            struct.unpack_from(">ibIhiqqqhii", data, pos + 12)
        body = data[pos + 61:end]
        batch_out = {"BaseOffset": base_offset, "PartitionLeaderEpoch": epoch, "Magic": magic,
                     "Attributes": attributes, "LastOffsetDelta": last_delta, "BaseTimestamp": first_ts,
                     "MaxTimestamp": max_ts, "ProducerId": pid, "ProducerEpoch": pepoch, "BaseSequence": base_seq,
                     "Count": count}
        batch_out = normalise(batch_out, no_topic_ids, "")
        if attributes & 0x7 == 0 and magic == 2:
            batch_out["Records"] = decode_records(body, count)
        else:
            batch_out["Records"] = body
        out.append(batch_out)
        pos = end
    if pos < len(data) and not (out and "partial batch" in out[-1]):
        out.append({"partial batch": len(data) - pos})
    return out


class no_topics:
    """Stands for a connection where none is at hand (record batches, tests): knows no topic ids."""
    topic_ids: dict = {}


no_topic_ids = no_topics()


def decode_records(body: bytes, count: int):
    def varint(pos):
        n, pos = schema_codec._read_uvarint(body, pos)
        return (n >> 1) ^ -(n & 1), pos

    records, pos = [], 0
    try:
        for _ in range(count):
            length, pos = varint(pos)
            start = pos
            attributes = body[pos]
            ts_delta, p = varint(pos + 1)
            off_delta, p = varint(p)
            klen, p = varint(p)
            key = None if klen < 0 else body[p:p + klen]
            p += max(klen, 0)
            vlen, p = varint(p)
            value = None if vlen < 0 else body[p:p + vlen]
            p += max(vlen, 0)
            nheaders, p = varint(p)
            records.append({"Attributes": attributes, "TimestampDelta": ts_delta, "OffsetDelta": off_delta,
                            "Key": key, "Value": value, "Headers": nheaders})
            pos = start + length
    except (IndexError, ValueError):
        records.append({"undecodable records": body.hex()})
    return records


# ---- comparison

KEY_FIELDS = ["ApiKey", "Name", "TopicName", "Topic", "TopicId", "PartitionIndex", "Partition", "Index", "GroupId",
              "ResourceName", "ConfigName", "Key", "NodeId", "BrokerId", "TransactionalId", "ErrorCode"]


def array_key(items: list) -> str | None:
    """The field that identifies an array's elements (so order does not matter and a path names the
    element), or None when no field is present in all and distinct."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in KEY_FIELDS:
        values = [repr(i.get(key)) for i in items if key in i]
        if len(values) == len(items) and len(set(values)) == len(values):
            return key
    return None


def show(value) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex() if len(value) <= 32 else f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def compare(g, k, path: str, out: list) -> None:
    """Appends (path, gregor value, kafka value) for every difference."""
    if isinstance(g, dict) and isinstance(k, dict):
        for name in list(k) + [n for n in g if n not in k]:
            if name not in g:
                compare("<absent>", k[name], f"{path}.{name}", out)
            elif name not in k:
                compare(g[name], "<absent>", f"{path}.{name}", out)
            else:
                compare(g[name], k[name], f"{path}.{name}", out)
        return
    if isinstance(g, list) and isinstance(k, list):
        gk, kk = array_key(g), array_key(k)
        key = gk if gk == kk else (gk or kk if not g or not k else None)
        if key:
            gm = {repr(i[key]) if not isinstance(i[key], str) else i[key]: i for i in g}
            km = {repr(i[key]) if not isinstance(i[key], str) else i[key]: i for i in k}
            for name in list(km) + [n for n in gm if n not in km]:
                compare(gm.get(name, "<absent>"), km.get(name, "<absent>"), f"{path}[{key}={name}]", out)
            return
        if len(g) != len(k):
            out.append((f"{path}.length", len(g), len(k)))
        for i, (a, b) in enumerate(zip(g, k)):
            compare(a, b, f"{path}[{i}]", out)
        return
    if g != k and not (isinstance(g, float) and isinstance(k, float) and g != g and k != k):
        out.append((path, g, k))


# ---- accepted differences

@dataclass
class accepted_entry:
    api: str
    lo: int
    hi: int
    pattern: str
    why: str
    bug: bool
    line: int
    hits: int = 0

    def versions(self) -> str:
        if self.hi >= schema_codec.VERSION_MAX:
            return "*" if self.lo == 0 else f"{self.lo}+"
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"

    def matches(self, api_name: str, version: int, path: str) -> bool:
        return (self.api in ("*", api_name) and self.lo <= version <= self.hi and
                re.fullmatch(pattern_regex(self.pattern), path) is not None)


def pattern_regex(pattern: str) -> str:
    """`**` any run of characters, `*` any run within one bracket or name (no `[` or `]`), `?` one
    character; everything else literal (paths hold brackets)."""
    out = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", r"[^\[\]]*").replace(r"\?", ".")
    return out.replace("\0", ".*")


def load_accepted(path: Path = ACCEPTED_PATH) -> list[accepted_entry]:
    """`API VERSIONS PATH_PATTERN :: justification` per line; API is a name as in the schemas or *,
    VERSIONS `3`, `0-4`, `5+` or `*`, PATH_PATTERN a pattern on the reported path
    (`**` anything, `*` anything but brackets, `?` one character, brackets literal). Lines
    after `# open bugs` are Gregor bugs: accepted so the check passes, listed as bugs."""
    entries, bug = [], False
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if line.startswith("# open bugs"):
            bug = True
        if not line or line.startswith("#"):
            continue
        spec, sep, why = line.partition("::")
        parts = spec.split()
        if not sep or not why.strip() or len(parts) != 3:
            raise ValueError(f"{path}:{n}: expected 'API VERSIONS PATH_PATTERN :: justification': {raw!r}")
        api, versions, pattern = parts
        if versions == "*":
            lo, hi = 0, schema_codec.VERSION_MAX
        else:
            r = schema_codec.version_range.parse(versions)
            lo, hi = r.lo, r.hi
        entries.append(accepted_entry(api, lo, hi, pattern, why.strip(), bug, n))
    return entries


# ---- the run

@dataclass
class result:
    pairs: list[tuple[int, int]] = dc_field(default_factory=list)
    requests: int = 0
    captured_sent: int = 0
    scenario_sent: int = 0  # requests of differential_scenarios.py
    differences: list[tuple[str, int, str, str, object, object]] = dc_field(default_factory=list)
    unaccepted: list = dc_field(default_factory=list)
    bugs: list = dc_field(default_factory=list)
    stale: list = dc_field(default_factory=list)
    only_gregor: dict = dc_field(default_factory=dict)
    only_kafka: dict = dc_field(default_factory=dict)
    entries: list = dc_field(default_factory=list)  # the accepted entries, with their hits
    seconds: float = 0.0


def exchange(gregor: connection, kafka: connection, api_key: int, version: int, gbody: dict, kbody: dict,
             client_id: str | None, what: str, res: result, view=None):
    """Sends one request to each broker and records the differences between the responses; view, when
    given, picks what of each decoded response is compared (the scenarios' timing-dependent parts)."""
    g = gregor.request(api_key, version, gbody, client_id)
    k = kafka.request(api_key, version, kbody, client_id)
    record_differences(gregor, kafka, api_key, version, gbody, g, k, what, res, view)
    return g, k


def record_differences(gregor: connection, kafka: connection, api_key: int, version: int, gbody: dict, g, k,
                       what: str, res: result, view=None) -> None:
    """Records the differences between the two brokers' responses (decoded, or why there is none)."""
    name = gregor.schemas.names[api_key]
    res.requests += 1
    if str(api_key) in os.environ.get("GREGOR_DIFF_DUMP", "").split(","):
        print(f"{name} v{version} [{what}]\n  request {gbody!r}\n  gregor  {g!r}\n  kafka   {k!r}")
    diffs: list = []
    if isinstance(g, dict) and isinstance(k, dict):
        gv, kv = (view(g), view(k)) if view else (g, k)
        compare(normalise(gv, gregor), normalise(kv, kafka), "", diffs)
    elif g != k:  # one or both did not answer: the whole response differs
        diffs.append(("<response>", g if isinstance(g, str) else "<a response>",
                      k if isinstance(k, str) else "<a response>"))
    for path, gv, kv in diffs:
        res.differences.append((name, version, what, path.lstrip("."), gv, kv))


def run(gregor_bootstrap: str, kafka_bootstrap: str, accepted_path: Path = ACCEPTED_PATH,
        verbose: bool = True, scenarios_only: list[str] | None = None) -> result:
    """The whole check; scenarios_only (scenario names, for triage on brokers that ran the check
    before) runs those scenarios alone, with no setup, typical or captured requests."""
    import differential_scenarios  # imports this module: here, not at the top
    started = time.monotonic()
    schemas = schema_codec.schema_set()
    gregor = connection("gregor", gregor_bootstrap, schemas)
    kafka = connection("kafka", kafka_bootstrap, schemas)
    res = result()
    captures = load_captures(schemas)
    extra_topics = capture_topics(captures, schemas)
    learn_captured_topic_names(captures)
    for conn in (gregor, kafka):
        conn.advertised = api_versions(conn)
        if not scenarios_only:
            setup_state(conn, extra_topics)
        learn_topic_ids(conn)
    both = {}
    for key in sorted(set(gregor.advertised) | set(kafka.advertised)):
        g, k = gregor.advertised.get(key), kafka.advertised.get(key)
        if g is None:
            res.only_kafka[key] = k
        elif k is None:
            res.only_gregor[key] = g
        else:
            lo, hi = max(g[0], k[0]), min(g[1], k[1])
            if key in schemas.requests:
                hi = min(hi, schemas.request(key).valid.hi)
            if lo <= hi:
                both[key] = (lo, hi)
    if scenarios_only:
        differential_scenarios.run_scenarios(gregor, kafka, both, res, scenarios_only)
        both = {}  # nothing else
    # Typical requests.
    for key, (lo, hi) in both.items():
        for version in range(lo, hi + 1):
            res.pairs.append((key, version))
            for i, partial in enumerate(typical_requests(key, version)):
                body = complete(schemas.request(key).fields, version, partial)
                exchange(gregor, kafka, key, version, resolve(body, gregor), resolve(body, kafka), CLIENT_ID,
                         f"typical#{i}", res)
        if key in (API["CreateTopics"], API["DeleteTopics"]):
            time.sleep(0.5)  # Kafka applies topic changes through its metadata log, asynchronously
    # Captured client requests, per client in capture order.
    learned = {"gregor": {}, "kafka": {}}
    for n, c in enumerate(captures):
        if c.api_key not in both or not (both[c.api_key][0] <= c.version <= both[c.api_key][1]):
            continue
        bodies = []
        for conn in (gregor, kafka):
            body = substitute(c.body, learned[conn.name])
            bodies.append(retarget_topic_ids(body, conn))
        if c.api_key == API["Produce"] and c.body.get("Acks") == 0:
            # No response to compare; what it appended is compared by the Fetch that follows.
            gregor.send_only(c.api_key, c.version, bodies[0], c.client_id)
            kafka.send_only(c.api_key, c.version, bodies[1], c.client_id)
            res.requests += 1
            res.captured_sent += 1
            continue
        g, k = exchange(gregor, kafka, c.api_key, c.version, bodies[0], bodies[1], c.client_id,
                        f"captured#{n}:{c.label}", res)
        res.captured_sent += 1
        if c.response is not None:
            learn(c.response, g, learned["gregor"])
            learn(c.response, k, learned["kafka"])
        if c.api_key in (API["CreateTopics"], API["DeleteTopics"]):
            time.sleep(0.5)
            for conn in (gregor, kafka):
                learn_topic_ids(conn)
    # Multi-API scenarios (differential_scenarios.py).
    if both:
        differential_scenarios.run_scenarios(gregor, kafka, both, res)
    gregor.close()
    kafka.close()
    judge(res, load_accepted(accepted_path))
    res.seconds = time.monotonic() - started
    if verbose:
        print(report(res, schemas))
    return res


def retarget_topic_ids(body, conn: connection):
    """Topic ids of the capture (Kafka's of that day) → the broker's ids for the same names; the
    captures' own Metadata answers give the names (learned into captured_topic_names)."""
    if isinstance(body, dict):
        return {k: (conn.topic_ids.get(CAPTURED_TOPIC_NAMES.get(v), v)
                    if k == "TopicId" and isinstance(v, bytes) else retarget_topic_ids(v, conn))
                for k, v in body.items()}
    if isinstance(body, list):
        return [retarget_topic_ids(v, conn) for v in body]
    return body


CAPTURED_TOPIC_NAMES: dict[bytes, str] = {}


def learn_captured_topic_names(captures: list[captured]) -> None:
    def walk(v):
        if isinstance(v, dict):
            name = v.get("Name", v.get("TopicName", v.get("Topic")))
            if isinstance(v.get("TopicId"), bytes) and v["TopicId"] != bytes(16) and isinstance(name, str):
                CAPTURED_TOPIC_NAMES[v["TopicId"]] = name
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    for c in captures:
        walk(c.response)


def judge(res: result, entries: list[accepted_entry]) -> None:
    res.entries = entries
    for diff in res.differences:
        api, version, _what, path, _g, _k = diff
        hit = next((e for e in entries if e.matches(api, version, path)), None)
        if hit is None:
            res.unaccepted.append(diff)
        else:
            hit.hits += 1
            if hit.bug:
                res.bugs.append((hit, diff))
    res.stale = [e for e in entries if e.hits == 0]


def report(res: result, schemas: schema_codec.schema_set) -> str:
    lines = [f"differential: {len(res.pairs)} api/version pairs, {res.requests} requests "
             f"({res.captured_sent} captured, {res.scenario_sent} in scenarios), {len(res.differences)} differences, "
             f"{len(res.unaccepted)} not accepted, {len(res.bugs)} open bugs, {len(res.stale)} stale entries, "
             f"{res.seconds:.1f} s"]
    for key, rng in res.only_gregor.items():
        lines.append(f"  only Gregor advertises {schemas.names.get(key, key)} ({key}) v{rng[0]}-{rng[1]}")
    for key, rng in res.only_kafka.items():
        lines.append(f"  only Kafka advertises {schemas.names.get(key, key)} ({key}) v{rng[0]}-{rng[1]}")
    lines.append("differences per accepted entry (line: hits):")
    lines += [f"  {e.line}: {e.hits:4d}  {e.api} {e.versions()} {e.pattern}{'  (open bug)' if e.bug else ''}"
              for e in res.entries]
    if res.unaccepted:
        lines.append("differences not accepted (api vVERSION path [request]: gregor vs kafka):")
        for api, version, what, path, g, k in res.unaccepted:
            lines.append(f"  {api} v{version} {path} [{what}]: gregor {show(g)} vs kafka {show(k)}")
    if res.bugs:
        lines.append("open Gregor bugs (differential_accepted.txt, bottom section):")
        seen = set()
        for entry, (api, version, what, path, g, k) in res.bugs:
            if entry.line in seen:
                continue
            seen.add(entry.line)
            lines.append(f"  line {entry.line}: {entry.api} {entry.versions()} {entry.pattern}: {entry.why} "
                         f"(e.g. v{version} {path}: gregor {show(g)} vs kafka {show(k)})")
    for e in res.stale:
        lines.append(f"  stale accepted entry, line {e.line}: {e.api} {e.versions()} {e.pattern}")
    return "\n".join(lines)


def passed(res: result) -> bool:
    stale_fails = os.environ.get("GREGOR_DIFF_STALE", "fail") != "warn"
    return not res.unaccepted and not (stale_fails and res.stale)


# ---- brokers started here

def start_kafka(work_dir: Path) -> tuple[str, Path]:
    port = free_port()
    subprocess.run([str(RUN_REFERENCE_KAFKA), str(port), str(work_dir)], check=True, timeout=300)
    return f"127.0.0.1:{port}", work_dir


def stop_kafka(work_dir: Path) -> None:
    subprocess.run([str(RUN_REFERENCE_KAFKA), "stop", str(work_dir)], timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Gregor started with the settings run-reference-kafka.sh gives Kafka where they change what a
# response says (the offsets topic's partitions, internal topics' replication, the group's initial
# delay, auto-creation).
GREGOR_SETS = {"offsets.topic.num.partitions": "1", "offsets.topic.replication.factor": "1",
               "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
               "group.initial.rebalance.delay.ms": "0", "num.partitions": "1", "auto.create.topics.enable": "true"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gregor", metavar="HOST:PORT", help="a running Gregor (default: start one)")
    parser.add_argument("--kafka", metavar="HOST:PORT", help="a running Kafka 4.3.1 (default: start one)")
    parser.add_argument("--accepted", default=str(ACCEPTED_PATH))
    parser.add_argument("--scenarios", metavar="NAME,...",
                        help="run only these scenarios of differential_scenarios.py (brokers that ran the check)")
    args = parser.parse_args()
    import harness
    work = Path(tempfile.mkdtemp(prefix="gregor-differential-"))
    gregor_proc = kafka_dir = None
    try:
        if not args.gregor:
            gregor_proc = harness.gregor_process(work / "gregor", extra_sets=GREGOR_SETS).start()
            args.gregor = gregor_proc.bootstrap
        if not args.kafka:
            args.kafka, kafka_dir = start_kafka(work / "kafka")
        res = run(args.gregor, args.kafka, Path(args.accepted),
                  scenarios_only=args.scenarios.split(",") if args.scenarios else None)
        return 0 if passed(res) else 1
    finally:
        if gregor_proc is not None:
            gregor_proc.stop()
        if kafka_dir is not None:
            stop_kafka(kafka_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
