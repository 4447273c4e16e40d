"""Multi-API scenarios of the differential check (differential.py): sequences of requests sent to
both brokers in step, each broker with its own scenario state (producer ids and epochs, member ids,
generations, member epochs) threaded from its earlier responses into its later requests; every
response compared as in the rest of the check (normalised: ids → placeholders), so the accepted
file covers them too.

Each scenario runs twice: at the versions current clients send (the newest both brokers advertise,
capped where a client stays lower) and at an older version per API (`OLD`), each time on topics,
groups and transactional ids of its own (`<name>-<profile>`), so the runs do not share state.
Error paths are part of each: a wrong generation, an unknown member, a fenced epoch or instance id,
a duplicate and an out-of-order sequence, an invalid transaction state, a concurrent transaction.

Waits are on conditions, per broker and not compared (a transaction's markers written, a new
topic's leaders known): Kafka applies some changes asynchronously where Gregor answers after them.
"""
from __future__ import annotations

import os
import struct
import time

import kafka_wire
from differential import (API, CLIENT_ID, MIB, complete, connection, exchange, record_differences, resolve, result,
                          topic_id_of)

# The highest version a current client sends where it is below what both brokers advertise:
# AddPartitionsToTxn v4+ is the brokers' own (batched, verify only).
CLIENT_MAX = {24: 3}
# An older version per API (a client of a few years ago), clamped to what both advertise.
OLD = {0: 8, 1: 11, 2: 5, 3: 9, 8: 7, 9: 7, 10: 3, 11: 5, 12: 3, 13: 3, 14: 3, 15: 4, 16: 3, 19: 4,
       20: 3, 21: 1, 22: 2, 23: 3, 24: 1, 25: 1, 26: 1, 28: 2, 32: 1, 37: 1, 44: 0, 65: 0, 66: 0,
       68: 0, 69: 0}
PROFILES = ("new", "old")
TXN_TIMEOUT_MS = 60_000
N = {"Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8, "OffsetFetch": 9,
     "FindCoordinator": 10, "JoinGroup": 11, "Heartbeat": 12, "LeaveGroup": 13, "SyncGroup": 14,
     "DescribeGroups": 15, "ListGroups": 16, "CreateTopics": 19, "DeleteTopics": 20, "DeleteRecords": 21,
     "InitProducerId": 22, "OffsetForLeaderEpoch": 23, "AddPartitionsToTxn": 24, "AddOffsetsToTxn": 25,
     "EndTxn": 26, "TxnOffsetCommit": 28, "DescribeConfigs": 32, "CreatePartitions": 37,
     "IncrementalAlterConfigs": 44, "DescribeTransactions": 65, "ListTransactions": 66,
     "DescribeProducers": 61, "ConsumerGroupHeartbeat": 68, "ConsumerGroupDescribe": 69}


def producer_batch(records: list[tuple[bytes, bytes]], producer_id: int, epoch: int, sequence: int,
                   transactional: bool = False, timestamp_ms: int = 1_600_000_000_000) -> bytes:
    """One magic-2 batch of a producer (idempotent or transactional) at base offset 0."""
    body = b"".join(kafka_wire.encode_record(i, k, v, timestamp_delta=i) for i, (k, v) in enumerate(records))
    attributes = 0x10 if transactional else 0
    after_crc = struct.pack(">hiqqqhii", attributes, len(records) - 1, timestamp_ms, timestamp_ms + len(records) - 1,
                            producer_id, epoch, sequence, len(records)) + body
    after_length = struct.pack(">ibI", 0, 2, kafka_wire.crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


def without_trailing_markers(r):
    """A view of a Fetch response with the control batches after a partition's last data batch
    left out: right after a transaction ends Kafka's first fetch stops before the marker it has
    just written (the high watermark's position lags its offset), Gregor's includes it; the marker
    is compared by a fetch from its own offset."""
    for t in r.get("Responses") or []:
        for p in t.get("Partitions") or []:
            data, pos, keep = p.get("Records") or b"", 0, 0
            while isinstance(data, bytes) and pos + 23 <= len(data):
                length = struct.unpack_from(">i", data, pos + 8)[0]
                end = pos + 12 + length
                if not struct.unpack_from(">h", data, pos + 21)[0] & 0x20:
                    keep = end
                pos = end
            if isinstance(data, bytes):
                p["Records"] = data[:keep]
    return r


EPOCH_FIELDS = {"MemberEpoch", "GroupEpoch", "AssignmentEpoch"}


def epochs_masked(r):
    """A view of a KIP-848 response with its positive epochs as "EPOCH": they are the coordinator's
    own counters, which Kafka starts at 2 and bumps a timing-dependent number of times (two Kafkas
    differ), and clients only echo them back; 0 and the negative ones (leaving, errors) stay."""
    if isinstance(r, dict):
        return {k: ("EPOCH" if k in EPOCH_FIELDS and isinstance(v, int) and v > 0 else epochs_masked(v))
                for k, v in r.items()}
    if isinstance(r, list):
        return [epochs_masked(v) for v in r]
    return r


def own_groups(tag: str):
    """A view of a ListGroups response keeping the scenario's own groups (the rest of the check's
    groups are compared by its typical requests; a broker reused for triage has older ones)."""
    def view(r):
        return {**r, "Groups": [g for g in r.get("Groups") or [] if g["GroupId"].endswith("-" + tag)]}
    return view


class scenario:
    """One scenario on both brokers: send() completes a partial body per broker (a function of that
    broker's state, or a dict), exchanges it and compares; wait() polls each broker on its own."""

    def __init__(self, name: str, profile: str, gregor: connection, kafka: connection,
                 both: dict[int, tuple[int, int]], res: result):
        self.name, self.profile = name, profile
        self.conns = (gregor, kafka)
        self.both, self.res = both, res
        self.state = {gregor.name: {}, kafka.name: {}}
        self.skipped: list[str] = []
        # The names of the scenario's topics, groups and transactional ids; GREGOR_DIFF_SUFFIX makes
        # them new for another run against the same brokers (triage with --scenarios).
        self.tag = profile + os.environ.get("GREGOR_DIFF_SUFFIX", "")

    def v(self, api: str) -> int | None:
        key = N[api]
        if key not in self.both:
            return None
        lo, hi = self.both[key]
        hi = min(hi, CLIENT_MAX.get(key, hi))
        return hi if self.profile == "new" else max(lo, min(hi, OLD.get(key, hi)))

    def body(self, conn: connection, api: str, version: int, partial) -> dict:
        st = self.state[conn.name]
        p = partial(st) if callable(partial) else partial
        return resolve(complete(conn.schemas.request(N[api]).fields, version, p), conn)

    def send(self, api: str, partial, label: str, version: int | None = None, view=None, on=None):
        """Both responses (decoded), after comparing them; (None, None) when an API is not served by
        both. `on`: other connections to the two brokers (side_connections()) than the scenario's."""
        version = self.v(api) if version is None else version
        if version is None:
            self.skipped.append(api)
            return None, None
        g, k = on or self.conns
        self.res.scenario_sent += 1
        if os.environ.get("GREGOR_DIFF_TRACE"):
            print(f"  {self.name}-{self.tag}:{label} {api} v{version}")
        return exchange(g, k, N[api], version, self.body(g, api, version, partial),
                        self.body(k, api, version, partial), CLIENT_ID,
                        f"{self.name}-{self.tag}:{label}", self.res, view)

    def learn(self, responses, **paths) -> None:
        """Stores fields of each broker's response into its state: learn((g, k), pid="ProducerId")."""
        for conn, resp in zip(self.conns, responses):
            if isinstance(resp, dict):
                for key, getter in paths.items():
                    try:
                        self.state[conn.name][key] = getter(resp) if callable(getter) else resp[getter]
                    except (KeyError, IndexError, TypeError):
                        pass

    def wait(self, api: str, partial, done, timeout_s: float = 30.0, version: int | None = None) -> None:
        """Polls each broker (not compared) until done(response) holds."""
        version = self.v(api) if version is None else version
        for conn in self.conns:
            deadline = time.monotonic() + timeout_s
            while True:
                resp = conn.request(N[api], version, self.body(conn, api, version, partial))
                if isinstance(resp, dict) and done(resp):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name}-{self.profile}: {conn.name}: {api} never ready: {resp!r}")
                time.sleep(0.1)

    def create_topic(self, topic: str, partitions: int, configs: list | None = None) -> None:
        """A topic of the scenario, created on both (uncompared) and waited for."""
        for conn in self.conns:
            resp = conn.request(API["CreateTopics"], 5, complete(conn.schemas.request(19).fields, 5, {
                "Topics": [{"Name": topic, "NumPartitions": partitions, "ReplicationFactor": 1, "Assignments": [],
                            "Configs": configs or [{"Name": "retention.ms", "Value": "-1"}]}],
                "TimeoutMs": 30_000}))
            if not isinstance(resp, dict) or resp["Topics"][0]["ErrorCode"] not in (0, 36):
                raise RuntimeError(f"{conn.name}: CreateTopics {topic}: {resp!r}")
        self.wait_leaders(topic)

    def wait_leaders(self, topic: str) -> None:
        self.wait("Metadata", {"Topics": [{"Name": topic, "TopicId": bytes(16)}], "AllowAutoTopicCreation": False},
                  lambda r: r["Topics"][0]["ErrorCode"] == 0 and r["Topics"][0]["Partitions"] and
                  all(p["LeaderId"] >= 0 for p in r["Topics"][0]["Partitions"]), version=12)
        count = 0
        for conn in self.conns:
            resp = conn.request(API["Metadata"], 12, complete(conn.schemas.request(3).fields, 12, {
                "Topics": [{"Name": topic, "TopicId": bytes(16)}], "AllowAutoTopicCreation": False}))
            conn.topic_ids[topic] = resp["Topics"][0]["TopicId"]
            count = len(resp["Topics"][0]["Partitions"])
        # Kafka's metadata cache names the leader a moment before its replica manager leads the
        # partition (NOT_LEADER_OR_FOLLOWER meanwhile): a ListOffsets answered on every partition.
        self.wait("ListOffsets", {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [{"Name": topic, "Partitions": [
            {"PartitionIndex": p, "CurrentLeaderEpoch": -1, "Timestamp": -1} for p in range(count)]}]},
            lambda r: all(p["ErrorCode"] == 0 for p in r["Topics"][0]["Partitions"]), version=7)

    def side_connections(self) -> tuple[connection, connection]:
        """A second connection to each broker, for a second group member: the same names (so the
        same scenario state) and the same learned topic ids."""
        out = []
        for conn in self.conns:
            extra = connection(conn.name, conn.bootstrap, conn.schemas)
            extra.topic_ids = conn.topic_ids
            out.append(extra)
        return out[0], out[1]

    def send_held(self, api: str, partial, on: tuple[connection, connection]):
        """Sends a request each broker holds (a JoinGroup waiting for the rest of the group) on the
        connections `on`, without reading the answers: collect() reads and compares them."""
        version = self.v(api)
        bodies = []
        for conn in on:
            body = self.body(conn, api, version, partial)
            conn.send_only(N[api], version, body)
            bodies.append(body)
        return api, version, bodies

    def collect(self, held, on: tuple[connection, connection], label: str, view=None):
        api, version, bodies = held
        g, k = on[0].receive(N[api], version), on[1].receive(N[api], version)
        self.res.scenario_sent += 1
        record_differences(on[0], on[1], N[api], version, bodies[0], g, k, f"{self.name}-{self.tag}:{label}",
                           self.res, view)
        return g, k

    def coordinator(self, key: str, key_type: int, label: str) -> None:
        """FindCoordinator, compared, after waiting for one on each broker."""
        partial = {"Key": key, "KeyType": key_type, "CoordinatorKeys": [key]}
        if self.v("FindCoordinator") >= 4:
            ready = lambda r: r["Coordinators"][0]["ErrorCode"] == 0  # noqa: E731
        else:
            ready = lambda r: r["ErrorCode"] == 0  # noqa: E731
        self.wait("FindCoordinator", partial, ready)
        self.send("FindCoordinator", partial, label)


# ---- (a) a transaction committed, then one aborted

def txn_states(name: str):
    return {"TransactionalIds": [name]}


def sorted_txn_partitions(r):
    """A view of DescribeTransactions with each topic's partitions sorted (Kafka's are a hash set's)."""
    for st in r.get("TransactionStates") or []:
        for t in st.get("Topics") or []:
            t["Partitions"] = sorted(t["Partitions"])
    return r


def transaction(sc: scenario) -> None:
    txn = f"dsc-txn-{sc.tag}"
    topic = f"dsc-txn-{sc.tag}"
    group = f"dsc-txn-group-{sc.tag}"
    sc.create_topic(topic, 2)
    sc.coordinator(txn, 1, "find txn coordinator")
    sc.send("DescribeTransactions", txn_states(txn), "describe unknown txn")
    # Kafka's first InitProducerId of a new coordinator answers retriable errors while it loads and
    # asks its controller for producer ids: one made on each broker first (so the next bumps the epoch).
    init = {"TransactionalId": txn, "TransactionTimeoutMs": TXN_TIMEOUT_MS, "ProducerId": -1, "ProducerEpoch": -1}
    sc.wait("InitProducerId", init, lambda r: r["ErrorCode"] == 0)
    r = sc.send("InitProducerId", {"TransactionalId": txn, "TransactionTimeoutMs": TXN_TIMEOUT_MS,
                                   "ProducerId": -1, "ProducerEpoch": -1}, "init")
    sc.learn(r, pid="ProducerId", epoch="ProducerEpoch")
    sc.send("DescribeTransactions", txn_states(txn), "describe empty")

    def end_txn(label, committed):
        """EndTxn; from v5 (KIP-890) a successful one bumps the epoch, which the response gives."""
        r = sc.send("EndTxn", lambda s: {"TransactionalId": txn, "ProducerId": s["pid"], "ProducerEpoch": s["epoch"],
                                         "Committed": committed}, label)
        if sc.v("EndTxn") >= 5:
            for conn, resp in zip(sc.conns, r):
                if isinstance(resp, dict) and resp["ErrorCode"] == 0:
                    sc.state[conn.name].update(pid=resp["ProducerId"], epoch=resp["ProducerEpoch"])
        # Kafka answers once the Prepare* state is written and completes the transaction after.
        sc.wait("DescribeTransactions", txn_states(txn),
                lambda r: r["TransactionStates"][0]["TransactionState"] in ("CompleteCommit", "CompleteAbort", "Empty"))
    # Invalid state: EndTxn with no transaction begun.
    end_txn("end with nothing begun", True)
    # Fenced: an epoch below the producer's.
    sc.send("AddPartitionsToTxn", lambda s: {"V3AndBelowTransactionalId": txn, "V3AndBelowProducerId": s["pid"],
                                             "V3AndBelowProducerEpoch": s["epoch"] - 1 if s["epoch"] > 0 else 5,
                                             "V3AndBelowTopics": [{"Name": topic, "Partitions": [0]}]},
            "add partitions, wrong epoch")
    sc.send("AddPartitionsToTxn", lambda s: {"V3AndBelowTransactionalId": txn, "V3AndBelowProducerId": s["pid"],
                                             "V3AndBelowProducerEpoch": s["epoch"],
                                             "V3AndBelowTopics": [{"Name": topic, "Partitions": [0, 1]},
                                                                  {"Name": "dsc-missing", "Partitions": [0]}]},
            "add partitions with a missing topic")
    sc.send("AddPartitionsToTxn", lambda s: {"V3AndBelowTransactionalId": txn, "V3AndBelowProducerId": s["pid"],
                                             "V3AndBelowProducerEpoch": s["epoch"],
                                             "V3AndBelowTopics": [{"Name": topic, "Partitions": [0, 1]}]},
            "add partitions")
    sc.send("DescribeTransactions", txn_states(txn), "describe ongoing", view=sorted_txn_partitions)
    sc.send("ListTransactions", lambda s: {"StateFilters": ["Ongoing"], "ProducerIdFilters": [s["pid"]],
                                           "DurationFilter": -1, "TransactionalIdPattern": None}, "list ongoing")

    def produce(label, seq, partition=0, epoch_delta=0, records=((b"t1", b"committed"), (b"t2", b"committed"))):
        return sc.send("Produce", lambda s: {
            "TransactionalId": txn, "Acks": -1, "TimeoutMs": 10_000,
            "TopicData": [{"Name": topic, "TopicId": topic_id_of(topic), "PartitionData": [
                {"Index": partition, "Records": producer_batch(list(records), s["pid"], s["epoch"] + epoch_delta,
                                                               seq, transactional=True)}]}]}, label)
    produce("produce transactional", 0)
    sc.send("DescribeProducers", {"Topics": [{"Name": topic, "PartitionIndexes": [0, 1]}]}, "describe producers, open")
    produce("produce transactional, an epoch it was not given", 2, epoch_delta=3)
    sc.send("AddOffsetsToTxn", lambda s: {"TransactionalId": txn, "ProducerId": s["pid"], "ProducerEpoch": s["epoch"],
                                          "GroupId": group}, "add offsets")
    sc.coordinator(group, 0, "find group coordinator")
    commit = lambda s: {"TransactionalId": txn, "GroupId": group, "ProducerId": s["pid"],  # noqa: E731
                        "ProducerEpoch": s["epoch"], "GenerationId": -1, "MemberId": "", "GroupInstanceId": None,
                        "Topics": [{"Name": topic, "Partitions": [
                            {"PartitionIndex": 0, "CommittedOffset": 2, "CommittedLeaderEpoch": -1,
                             "CommittedMetadata": "txn"}]}]}
    sc.send("TxnOffsetCommit", commit, "txn offset commit")
    sc.send("TxnOffsetCommit", lambda s: {**commit(s), "GenerationId": 7, "MemberId": "dsc-nobody"},
            "txn offset commit, unknown member")
    sc.send("OffsetFetch", {"GroupId": group, "RequireStable": True, "Topics": [{"Name": topic, "PartitionIndexes": [0]}],
                            "Groups": [{"GroupId": group, "MemberId": None, "MemberEpoch": -1,
                                        "Topics": [{"Name": topic, "TopicId": topic_id_of(topic),
                                                    "PartitionIndexes": [0]}]}]}, "offset fetch, pending")
    end_txn("commit", True)
    sc.send("DescribeTransactions", txn_states(txn), "describe committed")
    end_txn("abort after commit (at v5 an empty transaction aborted: the epoch bumped)", False)
    fetch_offsets(sc, topic, group, "after commit")
    # The second transaction, aborted.
    if sc.v("EndTxn") < 5:
        sc.send("AddPartitionsToTxn", lambda s: {"V3AndBelowTransactionalId": txn, "V3AndBelowProducerId": s["pid"],
                                                 "V3AndBelowProducerEpoch": s["epoch"],
                                                 "V3AndBelowTopics": [{"Name": topic, "Partitions": [1]}]},
                "add partitions, second")
    # (At EndTxn v5 the Produce adds the partition itself, KIP-890 part 2, as current clients do.)
    produce("produce transactional, second", 0, partition=1, records=((b"t3", b"aborted"),))
    sc.send("DescribeTransactions", txn_states(txn), "describe ongoing, second")
    end_txn("abort", False)
    sc.send("DescribeTransactions", txn_states(txn), "describe aborted")
    sc.send("ListTransactions", {"StateFilters": ["CompleteAbort", "CompleteCommit"], "ProducerIdFilters": [],
                                 "DurationFilter": -1, "TransactionalIdPattern": f"dsc-txn-{sc.tag}"},
            "list completed")
    fetch_offsets(sc, topic, group, "after abort", partitions=(0, 1))
    # Fenced by a new InitProducerId: the old epoch is refused.
    r = sc.send("InitProducerId", {"TransactionalId": txn, "TransactionTimeoutMs": TXN_TIMEOUT_MS,
                                   "ProducerId": -1, "ProducerEpoch": -1}, "init again")
    old = dict(sc.state["gregor"]), dict(sc.state["kafka"])
    sc.learn(r, pid="ProducerId", epoch="ProducerEpoch")
    sc.send("AddOffsetsToTxn", lambda s: {"TransactionalId": txn, "ProducerId": s["pid"],
                                          "ProducerEpoch": s["epoch"] - 1, "GroupId": group}, "add offsets, fenced")
    del old
    # A new producer instance while a transaction is open: the coordinator aborts it first and
    # answers CONCURRENT_TRANSACTIONS; the retry gets the bumped epoch.
    sc.send("AddPartitionsToTxn", lambda s: {"V3AndBelowTransactionalId": txn, "V3AndBelowProducerId": s["pid"],
                                             "V3AndBelowProducerEpoch": s["epoch"],
                                             "V3AndBelowTopics": [{"Name": topic, "Partitions": [0]}]},
            "add partitions, third")
    sc.send("InitProducerId", init, "init while a transaction is open")
    sc.wait("InitProducerId", init, lambda r: r["ErrorCode"] == 0)
    sc.send("DescribeTransactions", txn_states(txn), "describe after the open transaction was aborted")


def fetch_offsets(sc: scenario, topic: str, group: str, when: str, partitions=(0,)) -> None:
    def fetch(isolation):
        return {"ReplicaId": -1, "ReplicaState": {"ReplicaId": -1, "ReplicaEpoch": -1}, "MaxWaitMs": 0,
                "MinBytes": 0, "MaxBytes": MIB, "IsolationLevel": isolation, "SessionId": 0, "SessionEpoch": -1,
                "Topics": [{"Topic": topic, "TopicId": topic_id_of(topic), "Partitions": [
                    {"Partition": p, "FetchOffset": 0, "LogStartOffset": -1, "CurrentLeaderEpoch": -1,
                     "LastFetchedEpoch": -1, "PartitionMaxBytes": MIB} for p in partitions]}],
                "ForgottenTopicsData": [], "RackId": ""}
    sc.send("Fetch", fetch(1), f"fetch read_committed {when}", view=without_trailing_markers)
    sc.send("Fetch", fetch(0), f"fetch read_uncommitted {when}", view=without_trailing_markers)
    marker = fetch(0)
    for part in marker["Topics"][0]["Partitions"]:
        part["FetchOffset"] = 2  # partition 0: the first transaction's commit marker
    if partitions == (0,):
        sc.send("Fetch", marker, f"fetch the commit marker {when}")
    for isolation in (0, 1):
        sc.send("ListOffsets", {"ReplicaId": -1, "IsolationLevel": isolation, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": p, "CurrentLeaderEpoch": -1, "Timestamp": -1}
                                           for p in partitions]}]}, f"list offsets {isolation} {when}")
    sc.send("OffsetFetch", {"GroupId": group, "RequireStable": True, "Topics": [{"Name": topic, "PartitionIndexes": [0]}],
                            "Groups": [{"GroupId": group, "MemberId": None, "MemberEpoch": -1,
                                        "Topics": [{"Name": topic, "TopicId": topic_id_of(topic),
                                                    "PartitionIndexes": [0]}]}]}, f"offset fetch {when}")


# ---- (b) a classic consumer group round

def consumer_assignment(topic: str, partitions: list[int]) -> bytes:
    """ConsumerProtocolAssignment v0: the topic's partitions, no user data."""
    return (struct.pack(">hi", 0, 1) + kafka_wire.encode_string(topic) + struct.pack(">i", len(partitions)) +
            b"".join(struct.pack(">i", p) for p in partitions) + struct.pack(">i", -1))


def consumer_subscription(topic: str) -> bytes:
    return struct.pack(">hi", 0, 1) + kafka_wire.encode_string(topic) + struct.pack(">i", -1)


def classic_group(sc: scenario) -> None:
    group = f"dsc-group-{sc.tag}"
    topic = f"dsc-group-{sc.tag}"
    sc.create_topic(topic, 2)
    sc.coordinator(group, 0, "find coordinator")
    join = lambda s: {"GroupId": group, "SessionTimeoutMs": 30_000, "RebalanceTimeoutMs": 10_000,  # noqa: E731
                      "MemberId": s.get("member", ""), "GroupInstanceId": None, "ProtocolType": "consumer",
                      "Protocols": [{"Name": "range", "Metadata": consumer_subscription(topic)}], "Reason": None}
    r = sc.send("JoinGroup", join, "join, no member id")
    sc.learn(r, member="MemberId", generation="GenerationId")
    if sc.v("JoinGroup") >= 4:  # MEMBER_ID_REQUIRED: join again with the id
        r = sc.send("JoinGroup", join, "join with the member id")
        sc.learn(r, member="MemberId", generation="GenerationId")
    member = lambda s, **kw: {"GroupId": group, "MemberId": s["member"],  # noqa: E731
                              "GenerationId": s["generation"] + kw.get("gen", 0), "GroupInstanceId": None}
    sync = lambda s, **kw: {**member(s, **kw), "ProtocolType": "consumer", "ProtocolName": "range",  # noqa: E731
                            "Assignments": [{"MemberId": s["member"],
                                             "Assignment": consumer_assignment(topic, [0, 1])}]}
    sc.send("SyncGroup", lambda s: sync(s, gen=1), "sync, wrong generation")
    sc.send("SyncGroup", lambda s: {**sync(s), "MemberId": "dsc-unknown-member"}, "sync, unknown member")
    sc.send("SyncGroup", sync, "sync")
    sc.send("Heartbeat", member, "heartbeat")
    sc.send("Heartbeat", lambda s: member(s, gen=1), "heartbeat, wrong generation")
    sc.send("Heartbeat", lambda s: {**member(s), "MemberId": "dsc-unknown-member"}, "heartbeat, unknown member", view=epochs_masked)

    def commit(s, label_offset, **kw):
        return {"GroupId": group, "GenerationIdOrMemberEpoch": s["generation"] + kw.get("gen", 0),
                "MemberId": kw.get("member_id", s["member"]), "GroupInstanceId": None, "RetentionTimeMs": -1,
                "Topics": [{"Name": topic, "TopicId": topic_id_of(topic), "Partitions": [
                    {"PartitionIndex": p, "CommittedOffset": label_offset + p, "CommittedLeaderEpoch": -1,
                     "CommittedMetadata": "m"} for p in (0, 1)]}]}
    sc.send("OffsetCommit", lambda s: commit(s, 5), "commit")
    sc.send("OffsetCommit", lambda s: commit(s, 6, gen=1), "commit, wrong generation")
    sc.send("OffsetCommit", lambda s: commit(s, 7, member_id="dsc-unknown-member"), "commit, unknown member")
    offset_fetch = {"GroupId": group, "RequireStable": False,
                    "Topics": [{"Name": topic, "PartitionIndexes": [0, 1]}],
                    "Groups": [{"GroupId": group, "MemberId": None, "MemberEpoch": -1,
                                "Topics": [{"Name": topic, "TopicId": topic_id_of(topic), "PartitionIndexes": [0, 1]}]}]}
    sc.send("OffsetFetch", offset_fetch, "offset fetch")
    describe = {"Groups": [group], "IncludeAuthorizedOperations": False}
    sc.send("DescribeGroups", describe, "describe stable")
    sc.send("ListGroups", {"StatesFilter": ["Stable"], "TypesFilter": ["classic"]}, "list stable", view=own_groups(sc.tag))
    sc.send("LeaveGroup", lambda s: {"GroupId": group, "MemberId": s["member"], "Members": [
        {"MemberId": s["member"], "GroupInstanceId": None, "Reason": "done"}]}, "leave", view=epochs_masked)
    sc.send("LeaveGroup", lambda s: {"GroupId": group, "MemberId": s["member"], "Members": [
        {"MemberId": s["member"], "GroupInstanceId": None, "Reason": "again"}]}, "leave again")
    sc.send("Heartbeat", member, "heartbeat after leaving")
    sc.send("ListGroups", {"StatesFilter": ["Empty"], "TypesFilter": []}, "list empty", view=own_groups(sc.tag))
    sc.send("DescribeGroups", describe, "describe after")
    sc.send("OffsetFetch", offset_fetch, "offset fetch after")


# ---- (b1) a classic group of two members: a second member joins, the first leaves

def subscription_with(topic: str, user_data: bytes) -> bytes:
    """ConsumerProtocolSubscription v0 with user data: it tells the members apart in responses
    whose member ids are normalised."""
    return (struct.pack(">hi", 0, 1) + kafka_wire.encode_string(topic) + struct.pack(">i", len(user_data)) +
            user_data)


def members_relative(r):
    """A view of a JoinGroup, SyncGroup or DescribeGroups response: member ids as SELF (the
    responding member's own), OTHER or "", and member lists in the order of their metadata and
    assignments (the coordinators list them in their own orders)."""
    if not isinstance(r, dict):
        return r
    me = r.get("MemberId")

    def who(x):
        return x if not isinstance(x, str) or not x else ("SELF" if x == me else "OTHER")
    out = dict(r)
    if "Leader" in out:
        out["Leader"] = who(out["Leader"])
    if isinstance(out.get("Members"), list):
        out["Members"] = sorted(({**m, "MemberId": who(m.get("MemberId"))} for m in out["Members"]),
                                key=lambda m: (m.get("Metadata") or m.get("MemberMetadata") or b"",
                                               m.get("MemberAssignment") or b""))
    if isinstance(out.get("Groups"), list):
        out["Groups"] = [members_relative(g) for g in out["Groups"]]
    return out


def classic_rebalance(sc: scenario) -> None:
    group = f"dsc-rebalance-{sc.tag}"
    topic = f"dsc-rebalance-{sc.tag}"
    sc.create_topic(topic, 2)
    sc.coordinator(group, 0, "find coordinator")
    side = sc.side_connections()

    def join(who: str):
        return lambda s: {"GroupId": group, "SessionTimeoutMs": 30_000, "RebalanceTimeoutMs": 30_000,
                          "MemberId": s.get(who, ""), "GroupInstanceId": None, "ProtocolType": "consumer",
                          "Protocols": [{"Name": "range", "Metadata": subscription_with(topic, who.encode())}],
                          "Reason": None}

    def learn_join(responses, who: str) -> None:
        sc.learn(responses, **{who: "MemberId", "generation": "GenerationId"})

    def member(who: str):
        return lambda s: {"GroupId": group, "MemberId": s[who], "GenerationId": s["generation"],
                          "GroupInstanceId": None}

    def sync(who: str, assignments: dict[str, list[int]]):
        return lambda s: {**member(who)(s), "ProtocolType": "consumer", "ProtocolName": "range",
                          "Assignments": [{"MemberId": s[m], "Assignment": consumer_assignment(topic, parts)}
                                          for m, parts in assignments.items()]}

    def state_is(name: str):
        return lambda r: r["Groups"][0]["GroupState"] == name
    describe = {"Groups": [group], "IncludeAuthorizedOperations": False}
    new_ids = sc.v("JoinGroup") >= 4  # MEMBER_ID_REQUIRED, then join again with the id

    # Member a forms the group alone.
    if new_ids:
        learn_join(sc.send("JoinGroup", join("a"), "a joins, no member id"), "a")
    learn_join(sc.send("JoinGroup", join("a"), "a joins", view=members_relative), "a")
    sc.send("SyncGroup", sync("a", {"a": [0, 1]}), "a syncs: both partitions", view=members_relative)
    # Member b joins: its JoinGroup is held until a has joined the new generation too.
    if new_ids:
        sc.learn(sc.send("JoinGroup", join("b"), "b joins, no member id", on=side), b="MemberId")
    held = sc.send_held("JoinGroup", join("b"), side)
    sc.wait("DescribeGroups", describe, state_is("PreparingRebalance"))
    sc.send("Heartbeat", member("a"), "a heartbeats: rebalance in progress")
    sc.send("DescribeGroups", describe, "describe while preparing", view=members_relative)
    learn_join(sc.send("JoinGroup", join("a"), "a joins the new generation: its leader", view=members_relative), "a")
    b_join = sc.collect(held, side, "b's held join completes: a follower", view=members_relative)
    sc.learn(b_join, b="MemberId")
    sc.send("SyncGroup", sync("a", {"a": [0], "b": [1]}), "a syncs, assigning one partition each",
            view=members_relative)
    sc.send("SyncGroup", sync("b", {}), "b syncs: its partition", view=members_relative, on=side)
    sc.send("DescribeGroups", describe, "describe: two members, stable", view=members_relative)
    # Member a leaves: b, alone, rejoins and leads the next generation.
    sc.send("LeaveGroup", lambda s: {"GroupId": group, "MemberId": s["a"], "Members": [
        {"MemberId": s["a"], "GroupInstanceId": None, "Reason": "a leaves"}]}, "a leaves", view=members_relative)
    sc.send("Heartbeat", member("b"), "b heartbeats: rebalance in progress", on=side)
    learn_join(sc.send("JoinGroup", join("b"), "b rejoins alone: the leader", view=members_relative, on=side), "b")
    sc.send("DescribeGroups", describe, "describe: b alone, completing", view=members_relative)
    for conn in side:
        conn.close()


# ---- (b2) a static member (KIP-345) of a classic group, replaced by a new instance of itself

def static_member(sc: scenario) -> None:
    if sc.v("JoinGroup") < 5:
        return  # group instance ids from JoinGroup v5
    group = f"dsc-static-{sc.tag}"
    topic = f"dsc-static-{sc.tag}"
    sc.create_topic(topic, 1)
    sc.coordinator(group, 0, "find coordinator")
    join = lambda s, member="": {"GroupId": group, "SessionTimeoutMs": 30_000, "RebalanceTimeoutMs": 10_000,  # noqa: E731
                                 "MemberId": member, "GroupInstanceId": "dsc-instance", "ProtocolType": "consumer",
                                 "Protocols": [{"Name": "range", "Metadata": consumer_subscription(topic)}],
                                 "Reason": None}
    r = sc.send("JoinGroup", join, "join, static: no MEMBER_ID_REQUIRED")
    sc.learn(r, member="MemberId", generation="GenerationId")
    sync = lambda s, member=None: {"GroupId": group, "GenerationId": s["generation"],  # noqa: E731
                                   "MemberId": member or s["member"], "GroupInstanceId": "dsc-instance",
                                   "ProtocolType": "consumer", "ProtocolName": "range",
                                   "Assignments": [{"MemberId": member or s["member"],
                                                    "Assignment": consumer_assignment(topic, [0])}]}
    sc.send("SyncGroup", sync, "sync")
    r = sc.send("JoinGroup", join, "a new instance joins with the same instance id")
    sc.learn(r, old=lambda _: None)
    for conn, resp in zip(sc.conns, r):
        if isinstance(resp, dict):
            st = sc.state[conn.name]
            st["old"], st["member"], st["generation"] = st["member"], resp["MemberId"], resp["GenerationId"]
    heartbeat = lambda s, member: {"GroupId": group, "GenerationId": s["generation"],  # noqa: E731
                                   "MemberId": s[member], "GroupInstanceId": "dsc-instance"}
    sc.send("Heartbeat", lambda s: heartbeat(s, "old"), "heartbeat of the replaced member: fenced")
    sc.send("SyncGroup", sync, "sync of the new instance")
    sc.send("Heartbeat", lambda s: heartbeat(s, "member"), "heartbeat of the new instance")
    sc.send("DescribeGroups", {"Groups": [group], "IncludeAuthorizedOperations": False}, "describe")
    sc.send("LeaveGroup", lambda s: {"GroupId": group, "MemberId": s["member"], "Members": [
        {"MemberId": "", "GroupInstanceId": "dsc-instance", "Reason": None},
        {"MemberId": "", "GroupInstanceId": "dsc-other-instance", "Reason": None}]},
        "leave by instance id, one unknown")
    sc.send("DescribeGroups", {"Groups": [group], "IncludeAuthorizedOperations": False}, "describe after")


# ---- (c) a KIP-848 consumer group round

def consumer_group(sc: scenario) -> None:
    group = f"dsc-cg-{sc.tag}"
    topic = f"dsc-cg-{sc.tag}"
    sc.create_topic(topic, 2)
    sc.coordinator(group, 0, "find coordinator")
    version = sc.v("ConsumerGroupHeartbeat")
    if version is None:
        return
    # From version 1 the client makes its member id (KIP-1082); before, the coordinator does.
    first_id = "dsc-member-" + sc.tag.ljust(11, "0") if version >= 1 else ""

    def heartbeat(s, **kw):
        return {"GroupId": group, "MemberId": kw.get("member", s.get("member", first_id)),
                "MemberEpoch": kw.get("epoch", s.get("epoch", 0)), "InstanceId": None, "RackId": None,
                "RebalanceTimeoutMs": kw.get("rebalance", -1), "SubscribedTopicNames": kw.get("topics"),
                "SubscribedTopicRegex": None, "ServerAssignor": kw.get("assignor"),
                "TopicPartitions": kw.get("owned", s.get("owned"))}
    # Kafka computes a new member's assignment in the heartbeat or after it (timing): the join's
    # assignment is not compared, the member heartbeats (uncompared) until it owns both partitions.
    owned = lambda r: [{"TopicId": t["TopicId"], "Partitions": sorted(t["Partitions"])}  # noqa: E731
                       for t in (r["Assignment"] or {}).get("TopicPartitions", [])]
    r = sc.send("ConsumerGroupHeartbeat", lambda s: heartbeat(s, epoch=0, rebalance=10_000, topics=[topic],
                                                              assignor="uniform", owned=[]), "join",
                view=lambda r: epochs_masked({k: v for k, v in r.items() if k != "Assignment"}))
    sc.learn(r, member="MemberId", epoch="MemberEpoch", owned=owned)

    def converged(conn_state):
        def done(r):
            if r["ErrorCode"] == 0:
                conn_state["epoch"] = r["MemberEpoch"]
                if r["Assignment"] is not None:
                    conn_state["owned"] = owned(r)
            return sum(len(t["Partitions"]) for t in conn_state.get("owned") or []) == 2 and r["Assignment"] is None
        return done
    for conn in sc.conns:
        deadline = time.monotonic() + 30
        st = sc.state[conn.name]
        while not converged(st)(conn.request(N["ConsumerGroupHeartbeat"], version,
                                             sc.body(conn, "ConsumerGroupHeartbeat", version, heartbeat))):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sc.name}-{sc.tag}: {conn.name}: no assignment of both partitions")
            time.sleep(0.1)
    sc.send("ConsumerGroupHeartbeat", lambda s: heartbeat(s, epoch=s["epoch"] + 10), "heartbeat, fenced epoch", view=epochs_masked)
    sc.send("ConsumerGroupHeartbeat", lambda s: heartbeat(s, member="dsc-unknown-member-0000", epoch=1),
            "heartbeat, unknown member", view=epochs_masked)
    sc.send("ConsumerGroupHeartbeat", heartbeat, "steady heartbeat", view=epochs_masked)
    describe = {"GroupIds": [group], "IncludeAuthorizedOperations": False}
    sc.send("ConsumerGroupDescribe", describe, "describe", view=epochs_masked)

    def commit(s, epoch_delta):
        return {"GroupId": group, "GenerationIdOrMemberEpoch": s["epoch"] + epoch_delta, "MemberId": s["member"],
                "GroupInstanceId": None, "RetentionTimeMs": -1,
                "Topics": [{"Name": topic, "TopicId": topic_id_of(topic), "Partitions": [
                    {"PartitionIndex": 0, "CommittedOffset": 4, "CommittedLeaderEpoch": -1, "CommittedMetadata": ""}]}]}
    if sc.v("OffsetCommit") >= 9:  # member epochs from version 9 (KIP-848)
        sc.send("OffsetCommit", lambda s: commit(s, 0), "commit with the member epoch")
        sc.send("OffsetCommit", lambda s: commit(s, -1), "commit, stale member epoch")
    r = sc.send("ConsumerGroupHeartbeat", lambda s: heartbeat(s, epoch=-1), "leave", view=epochs_masked)
    sc.send("ConsumerGroupDescribe", describe, "describe after leaving", view=epochs_masked)
    sc.send("ListGroups", {"StatesFilter": [], "TypesFilter": ["consumer"]}, "list consumer groups", view=own_groups(sc.tag))


# ---- (d) an idempotent producer

def idempotent(sc: scenario) -> None:
    topic = f"dsc-idem-{sc.tag}"
    sc.create_topic(topic, 1)
    init = {"TransactionalId": None, "TransactionTimeoutMs": TXN_TIMEOUT_MS, "ProducerId": -1, "ProducerEpoch": -1}
    r = sc.send("InitProducerId", init, "init")
    sc.learn(r, pid="ProducerId", epoch="ProducerEpoch")

    def produce(label, seq, n=2, epoch_delta=0, pid=None):
        records = [(b"i%d" % (seq + i), b"idem") for i in range(n)]
        return sc.send("Produce", lambda s: {
            "TransactionalId": None, "Acks": -1, "TimeoutMs": 10_000,
            "TopicData": [{"Name": topic, "TopicId": topic_id_of(topic), "PartitionData": [
                {"Index": 0, "Records": producer_batch(records, s["pid"] if pid is None else pid,
                                                       s["epoch"] + epoch_delta, seq)}]}]}, label)
    produce("seq 0", 0)
    produce("seq 0 again (a retry)", 0)
    produce("seq 2", 2)
    produce("seq 2 again, a different batch size", 2, n=3)
    produce("seq 9, out of order", 9)
    produce("seq 3 of a new epoch", 3, epoch_delta=1)
    produce("seq 0 of a new epoch", 0, epoch_delta=1)
    produce("an unknown producer, seq 0", 0, pid=987_654)
    for ts in (-1, -2):
        sc.send("ListOffsets", {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": 0, "CurrentLeaderEpoch": -1, "Timestamp": ts}]}]},
            f"list offsets {ts}")
    sc.send("Fetch", {"ReplicaId": -1, "ReplicaState": {"ReplicaId": -1, "ReplicaEpoch": -1}, "MaxWaitMs": 0,
                      "MinBytes": 0, "MaxBytes": MIB, "IsolationLevel": 0, "SessionId": 0, "SessionEpoch": -1,
                      "Topics": [{"Topic": topic, "TopicId": topic_id_of(topic), "Partitions": [
                          {"Partition": 0, "FetchOffset": 0, "LogStartOffset": -1, "CurrentLeaderEpoch": -1,
                           "LastFetchedEpoch": -1, "PartitionMaxBytes": MIB}]}],
                      "ForgottenTopicsData": [], "RackId": ""}, "fetch")

    # The producers' state: in an order of their own on each broker (by id, and ids differ).
    def by_sequence(r):
        for t in r.get("Topics", []):
            for p in t.get("Partitions", []):
                p["ActiveProducers"] = sorted(p.get("ActiveProducers") or [],
                                              key=lambda a: (a["LastSequence"], a["ProducerEpoch"]))
        return r
    sc.send("DescribeProducers", {"Topics": [{"Name": topic, "PartitionIndexes": [0]}]}, "describe producers",
            view=by_sequence)
    # An unknown producer starting at sequence 5 (both append it: KIP-360), on a topic of its own
    # so it changes nothing compared above.
    unknown = f"dsc-idem-unknown-{sc.tag}"
    sc.create_topic(unknown, 1)
    sc.send("Produce", lambda s: {
        "TransactionalId": None, "Acks": -1, "TimeoutMs": 10_000,
        "TopicData": [{"Name": unknown, "TopicId": topic_id_of(unknown), "PartitionData": [
            {"Index": 0, "Records": producer_batch([(b"u", b"idem")], 987_653, 0, 5)}]}]},
        "an unknown producer, seq 5")


# ---- (e) an admin round

def admin(sc: scenario) -> None:
    topic = f"dsc-admin-{sc.tag}"

    def create(name, partitions=2, configs=(("retention.ms", "3600000"), ("cleanup.policy", "compact")),
               replication=1):
        return {"Name": name, "NumPartitions": partitions, "ReplicationFactor": replication, "Assignments": [],
                "Configs": [{"Name": k, "Value": v} for k, v in configs]}
    sc.send("CreateTopics", {"Topics": [create(topic), create(topic + "-bad-config", configs=[("retention.ms", "x")]),
                                        create(topic + "-unknown-config", configs=[("dsc.bogus", "1")]),
                                        create(topic + "-defaults", partitions=-1, replication=-1),
                                        create(topic + "-zero", partitions=0)],
                             "TimeoutMs": 10_000, "ValidateOnly": True}, "create, validate only")
    sc.send("CreateTopics", {"Topics": [create(topic), create(topic + "-rf3", replication=3)],
                             "TimeoutMs": 10_000, "ValidateOnly": False}, "create")
    sc.wait_leaders(topic)
    sc.send("CreateTopics", {"Topics": [create(topic)], "TimeoutMs": 10_000, "ValidateOnly": False}, "create again")
    parts = lambda count, validate=False: {"Topics": [{"Name": topic, "Count": count, "Assignments": None}],  # noqa: E731
                                           "TimeoutMs": 10_000, "ValidateOnly": validate}
    sc.send("CreatePartitions", parts(5, True), "partitions to 5, validate only")
    sc.send("CreatePartitions", parts(1), "partitions to 1")
    sc.send("CreatePartitions", parts(3), "partitions to 3")
    sc.wait("Metadata", {"Topics": [{"Name": topic, "TopicId": bytes(16)}], "AllowAutoTopicCreation": False},
            lambda r: len(r["Topics"][0]["Partitions"]) == 3 and
            all(p["LeaderId"] >= 0 for p in r["Topics"][0]["Partitions"]), version=12)
    describe = {"Resources": [{"ResourceType": 2, "ResourceName": topic, "ConfigurationKeys": [
        "retention.ms", "cleanup.policy", "segment.ms", "max.message.bytes", "min.cleanable.dirty.ratio"]}],
        "IncludeSynonyms": True, "IncludeDocumentation": False}
    sc.send("DescribeConfigs", describe, "describe configs")
    alter = lambda ops, validate=False: {"Resources": [{"ResourceType": 2, "ResourceName": topic, "Configs": [  # noqa: E731
        {"Name": k, "ConfigOperation": op, "Value": v} for k, op, v in ops]}], "ValidateOnly": validate}
    sc.send("IncrementalAlterConfigs", alter([("retention.ms", 0, "x")]), "alter, invalid value")
    sc.send("IncrementalAlterConfigs", alter([("retention.ms", 0, "7200000"), ("segment.ms", 0, "600000"),
                                              ("cleanup.policy", 2, "delete"), ("max.message.bytes", 1, None)]),
            "alter: set, append, delete")
    sc.send("IncrementalAlterConfigs", alter([("segment.ms", 1, None), ("cleanup.policy", 3, "compact")]),
            "alter: delete, subtract")
    sc.send("DescribeConfigs", describe, "describe configs after")
    body = {"TransactionalId": None, "Acks": -1, "TimeoutMs": 10_000,
            "TopicData": [{"Name": topic, "TopicId": topic_id_of(topic), "PartitionData": [
                {"Index": 0, "Records": producer_batch([(b"a%d" % i, b"admin") for i in range(5)], -1, -1, -1)}]}]}
    sc.send("Produce", body, "produce")
    delete = lambda offset: {"Topics": [{"Name": topic, "Partitions": [{"PartitionIndex": 0, "Offset": offset}]}],  # noqa: E731
                             "TimeoutMs": 10_000}
    sc.send("DeleteRecords", delete(3), "delete records below 3")
    sc.send("DeleteRecords", delete(99), "delete records past the end")
    sc.send("DeleteRecords", delete(-1), "delete records below the high watermark")
    sc.send("ListOffsets", {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [{"Name": topic, "Partitions": [
        {"PartitionIndex": p, "CurrentLeaderEpoch": -1, "Timestamp": -2} for p in (0, 1, 2)]}]}, "list earliest")
    sc.send("OffsetForLeaderEpoch", {"ReplicaId": -1, "Topics": [{"Topic": topic, "Partitions": [
        {"Partition": 0, "CurrentLeaderEpoch": -1, "LeaderEpoch": 0},
        {"Partition": 1, "CurrentLeaderEpoch": 5, "LeaderEpoch": 0},
        {"Partition": 2, "CurrentLeaderEpoch": -1, "LeaderEpoch": 3},
        {"Partition": 7, "CurrentLeaderEpoch": -1, "LeaderEpoch": 0}]}]}, "offset for leader epoch")
    names = [topic, topic + "-missing"]
    deletion = {"TopicNames": names, "Topics": [{"Name": n, "TopicId": bytes(16)} for n in names], "TimeoutMs": 10_000}
    sc.send("DeleteTopics", deletion, "delete topics")
    sc.wait("Metadata", {"Topics": [{"Name": topic, "TopicId": bytes(16)}], "AllowAutoTopicCreation": False},
            lambda r: r["Topics"][0]["ErrorCode"] == 3, version=12)
    sc.send("DeleteTopics", deletion, "delete topics again")
    sc.send("Metadata", {"Topics": [{"Name": topic, "TopicId": bytes(16)}], "AllowAutoTopicCreation": False,
                         "IncludeTopicAuthorizedOperations": False}, "metadata after")


SCENARIOS = [transaction, classic_group, classic_rebalance, static_member, consumer_group, idempotent, admin]


def run_scenarios(gregor: connection, kafka: connection, both: dict[int, tuple[int, int]], res: result,
                  only: list[str] | None = None) -> None:
    for fn in SCENARIOS:
        if only and fn.__name__ not in only:
            continue
        for profile in PROFILES:
            sc = scenario(fn.__name__, profile, gregor, kafka, both, res)
            fn(sc)
