"""Proves TxnOffsetCommit's group side with hand-built frames: the error answers Kafka gives per
partition (unknown topic or partition, oversized metadata, unknown member and illegal generation
from v3), and that offsets committed in a transaction stay pending: OffsetFetch keeps answering
the last committed offset, with require_stable (v7+) UNSTABLE_OFFSET_COMMIT, also after a
restart replays the transactional batch from __consumer_offsets.

Each test runs a real transaction first (InitProducerId with a transactional id, AddOffsetsToTxn
for the group), since the broker, as Kafka, checks with the transaction coordinator that the
group's offsets partition is part of the producer's ongoing transaction."""
from __future__ import annotations

import struct

import clients
import harness
import kafka_wire as kw

API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_INIT_PRODUCER_ID = 22
API_ADD_OFFSETS_TO_TXN = 25
API_TXN_OFFSET_COMMIT = 28
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
ILLEGAL_GENERATION = 22
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
UNSTABLE_OFFSET_COMMIT = 88
NOT_COORDINATOR = 16
CONCURRENT_TRANSACTIONS = 51
RETRIABLE = (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS)


def compact_array(items: list[bytes]) -> bytes:
    return kw.encode_uvarint(len(items) + 1) + b"".join(items)


def compact_nullable_string(s: str | None) -> bytes:
    return b"\x00" if s is None else kw.encode_compact_string(s)


def begin_txn(bootstrap: str, txn_id: str, groups: list[str]) -> tuple[int, int]:
    """InitProducerId v1 for `txn_id` (after FindCoordinator v1 key type 1 answers), then
    AddOffsetsToTxn v1 for each group; returns (producer id, epoch). Retries the retriable
    coordinator errors."""
    def coordinator_ready():
        body = kw.round_trip(bootstrap, kw.request(API_FIND_COORDINATOR, 1, 1, kw.encode_string(txn_id) + b"\x01"))
        if body is None:
            return False
        r = kw.reader(body[4:])
        r.take(">i")  # throttle
        return r.take(">h") == NONE
    harness.wait_until(coordinator_ready, timeout_s=60, interval_s=0.5, what="a transaction coordinator")
    got: dict = {}

    def init():
        body = kw.round_trip(bootstrap, kw.request(API_INIT_PRODUCER_ID, 1, 2,
                                                   kw.encode_string(txn_id) + struct.pack(">i", 120000)))
        r = kw.reader(body[4:])
        r.take(">i")  # throttle
        err, pid, epoch = r.take(">hqh")
        got.update(err=err, pid=pid, epoch=epoch)
        return err not in RETRIABLE
    harness.wait_until(init, timeout_s=60, interval_s=0.2, what="InitProducerId")
    assert got["err"] == NONE, got
    for group in groups:
        def add():
            body = kw.round_trip(bootstrap, kw.request(API_ADD_OFFSETS_TO_TXN, 1, 3,
                                                       kw.encode_string(txn_id) + struct.pack(">qh", got["pid"], got["epoch"])
                                                       + kw.encode_string(group)))
            r = kw.reader(body[4:])
            r.take(">i")  # throttle
            got["add"] = r.take(">h")
            return got["add"] not in RETRIABLE
        harness.wait_until(add, timeout_s=60, interval_s=0.2, what="AddOffsetsToTxn")
        assert got["add"] == NONE, got
    return got["pid"], got["epoch"]


def txn_offset_commit(corr: int, version: int, group: str, producer_id: int,
                      offsets: dict[tuple[str, int], tuple[int, str]], generation: int = -1,
                      member: str = "", instance: str | None = None, txn_id: str = "txn-id",
                      epoch: int = 0) -> bytes:
    """TxnOffsetCommit v0-v5; offsets = {(topic, partition): (offset, metadata)}."""
    by_topic: dict[str, list[tuple[int, int, str]]] = {}
    for (topic, partition), (offset, meta) in offsets.items():
        by_topic.setdefault(topic, []).append((partition, offset, meta))
    if version >= 3:
        body = (kw.encode_compact_string(txn_id) + kw.encode_compact_string(group)
                + struct.pack(">qh", producer_id, epoch) + struct.pack(">i", generation)
                + kw.encode_compact_string(member) + compact_nullable_string(instance))
        topics = []
        for topic, parts in by_topic.items():
            ps = [struct.pack(">iqi", p, o, -1) + kw.encode_compact_string(m) + b"\x00" for p, o, m in parts]
            topics.append(kw.encode_compact_string(topic) + compact_array(ps) + b"\x00")
        body += compact_array(topics) + b"\x00"
        return kw.request(API_TXN_OFFSET_COMMIT, version, corr, body, flexible=True)
    body = kw.encode_string(txn_id) + kw.encode_string(group) + struct.pack(">qh", producer_id, epoch)
    body += struct.pack(">i", len(by_topic))
    for topic, parts in by_topic.items():
        body += kw.encode_string(topic) + struct.pack(">i", len(parts))
        for p, o, m in parts:
            body += struct.pack(">iq", p, o) + (struct.pack(">i", -1) if version >= 2 else b"") + kw.encode_string(m)
    return kw.request(API_TXN_OFFSET_COMMIT, version, corr, body)


def parse_txn_offset_commit(body: bytes, version: int) -> dict[tuple[str, int], int]:
    r = kw.reader(body)
    r.take(">i")  # correlation id
    flexible = version >= 3
    if flexible:
        r.skip_tagged_fields()  # response header v1
    r.take(">i")  # throttle
    out = {}
    for _ in range((r.uvarint() - 1) if flexible else r.take(">i")):
        name = compact_string(r) if flexible else r.string()
        for _ in range((r.uvarint() - 1) if flexible else r.take(">i")):
            p, err = r.take(">ih")
            if flexible:
                r.skip_tagged_fields()
            out[(name, p)] = err
        if flexible:
            r.skip_tagged_fields()
    return out


def compact_string(r: kw.reader) -> str | None:
    n = r.uvarint() - 1
    if n < 0:
        return None
    raw = r.data[r.pos:r.pos + n]
    r.pos += n
    return raw.decode()


def offset_fetch_v7(corr: int, group: str, topic: str, partition: int, require_stable: bool) -> bytes:
    topics = compact_array([kw.encode_compact_string(topic) + compact_array([struct.pack(">i", partition)]) + b"\x00"])
    body = kw.encode_compact_string(group) + topics + struct.pack(">?", require_stable) + b"\x00"
    return kw.request(API_OFFSET_FETCH, 7, corr, body, flexible=True)


def parse_offset_fetch_v7(body: bytes) -> dict[tuple[str, int], tuple[int, int]]:
    """{(topic, partition): (committed offset, error code)}"""
    r = kw.reader(body)
    r.take(">i")
    r.skip_tagged_fields()
    r.take(">i")  # throttle
    out = {}
    for _ in range(r.uvarint() - 1):
        name = compact_string(r)
        for _ in range(r.uvarint() - 1):
            p, off, _epoch = r.take(">iqi")
            compact_string(r)  # metadata
            err = r.take(">h")
            r.skip_tagged_fields()
            out[(name, p)] = (off, err)
        r.skip_tagged_fields()
    return out


def offset_commit_v2(corr: int, group: str, topic: str, partition: int, offset: int) -> bytes:
    body = (kw.encode_string(group) + struct.pack(">i", -1) + kw.encode_string("") + struct.pack(">q", -1)
            + struct.pack(">i", 1) + kw.encode_string(topic) + struct.pack(">i", 1)
            + struct.pack(">iq", partition, offset) + kw.encode_string(""))
    return kw.request(API_OFFSET_COMMIT, 2, corr, body)


def wait_for_coordinator(bootstrap: str, group: str) -> None:
    def ready():
        body = kw.round_trip(bootstrap, kw.request(API_FIND_COORDINATOR, 0, 1, kw.encode_string(group)))
        return body is not None and kw.reader(body[4:]).take(">h") == 0
    harness.wait_until(ready, timeout_s=60, interval_s=0.5, what="a group coordinator")


def commit_simple(bootstrap: str, group: str, topic: str, offset: int) -> None:
    errors: dict = {}

    def committed():
        r = kw.reader(kw.round_trip(bootstrap, offset_commit_v2(2, group, topic, 0, offset)))
        r.take(">ii")  # correlation id, topic count
        r.string()
        r.take(">ii")  # partition count, index
        errors["e"] = r.take(">h")
        return errors["e"] not in (COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS)
    harness.wait_until(committed, timeout_s=30, interval_s=0.5, what="the commit to reach a coordinator")
    assert errors["e"] == NONE


def fetch(bootstrap: str, group: str, topic: str, require_stable: bool) -> tuple[int, int]:
    body = kw.round_trip(bootstrap, offset_fetch_v7(3, group, topic, 0, require_stable))
    return parse_offset_fetch_v7(body)[(topic, 0)]


def test_txn_offset_commit_error_answers_like_kafka(bootstrap):
    topic = harness.unique_topic("txnoc")
    group = harness.unique_topic("txng")
    clients.create_topic(bootstrap, topic, partitions=1)
    wait_for_coordinator(bootstrap, group)
    commit_simple(bootstrap, group, topic, 42)  # an Empty simple group

    missing = harness.unique_topic("txnmissing")
    txn_id = harness.unique_topic("txnid")
    pid, epoch = begin_txn(bootstrap, txn_id, [group, missing])

    def send(version, grp, offsets, **kwargs):
        frame = txn_offset_commit(5, version, grp, pid, offsets, txn_id=txn_id, epoch=epoch, **kwargs)
        return parse_txn_offset_commit(kw.round_trip(bootstrap, frame), version)

    # Per partition: unknown topic / partition, oversized metadata; the group's error for the rest.
    mixed = {(topic, 0): (7, ""), (topic, 3): (7, ""), ("no-such-topic-txn", 0): (7, "")}
    assert send(3, group, mixed, generation=1, member="nobody") == {
        (topic, 0): UNKNOWN_MEMBER_ID, (topic, 3): UNKNOWN_TOPIC_OR_PARTITION,
        ("no-such-topic-txn", 0): UNKNOWN_TOPIC_OR_PARTITION}
    # A group that does not exist: fine without a generation, ILLEGAL_GENERATION with one.
    assert send(4, missing, {(topic, 0): (7, "")}, generation=3, member="m") == {(topic, 0): ILLEGAL_GENERATION}
    assert send(5, "", {(topic, 0): (7, "")}) == {(topic, 0): INVALID_GROUP_ID}
    assert send(2, group, {(topic, 0): (7, "x" * 5000)}) == {(topic, 0): OFFSET_METADATA_TOO_LARGE}
    # Nothing was written by any of these.
    assert fetch(bootstrap, group, topic, True) == (42, NONE)


def test_txn_offsets_stay_pending_across_a_restart(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("txnpend")
    group = harness.unique_topic("txnpg")
    clients.create_topic(g.bootstrap, topic, partitions=1)
    wait_for_coordinator(g.bootstrap, group)
    commit_simple(g.bootstrap, group, topic, 42)
    txn_id = harness.unique_topic("txnid")
    pid, epoch = begin_txn(g.bootstrap, txn_id, [group])
    for version in (0, 3):
        body = kw.round_trip(g.bootstrap, txn_offset_commit(6, version, group, pid, {(topic, 0): (100, "t")},
                                                            txn_id=txn_id, epoch=epoch))
        assert parse_txn_offset_commit(body, version) == {(topic, 0): NONE}
    assert fetch(g.bootstrap, group, topic, False) == (42, NONE)
    assert fetch(g.bootstrap, group, topic, True) == (-1, UNSTABLE_OFFSET_COMMIT)
    # Written as Kafka's coordinator writes them: transactional, the producer's id and epoch, no
    # sequence.
    txn = [h for h in batch_headers(offsets_segment(g.log_dir, group).read_bytes()) if h["producer_id"] == pid]
    assert len(txn) == 2
    assert all(h["attributes"] & 0x30 == 0x10 and h["producer_epoch"] == epoch and h["base_sequence"] == -1
               for h in txn)
    g.restart()
    wait_for_coordinator(g.bootstrap, group)
    # The replay keeps the transactional batch pending (no marker in the log).
    assert fetch(g.bootstrap, group, topic, False) == (42, NONE)
    assert fetch(g.bootstrap, group, topic, True) == (-1, UNSTABLE_OFFSET_COMMIT)


# ---------------------------------------------------------------- markers written into the log


def control_batch(base_offset: int, leader_epoch: int, producer_id: int, commit: bool) -> bytes:
    """A COMMIT/ABORT marker as WriteTxnMarkers appends it: control + transactional attributes,
    key (version 0, type 1/0), value (version 0, coordinator epoch 0)."""
    key = struct.pack(">hh", 0, 1 if commit else 0)
    value = struct.pack(">hi", 0, 0)
    record = kw.encode_record(0, key, value)
    now = 1_700_000_000_000
    after_crc = struct.pack(">hiqqqhii", 0x30, 0, now, now, producer_id, 0, -1, 1) + record
    batch = struct.pack(">ib", leader_epoch, 2) + struct.pack(">I", kw.crc32c(after_crc)) + after_crc
    return struct.pack(">qi", base_offset, len(batch)) + batch


def offsets_segment(log_dir, group: str):
    """The newest segment file of the group's __consumer_offsets partition."""
    segments = [p for d in log_dir.glob("__consumer_offsets-*") for p in d.glob("*.log")
                if group.encode() in p.read_bytes()]
    assert segments, f"no __consumer_offsets segment holds {group}"
    return max(segments, key=lambda p: (p.parent.name, p.name))


def batch_headers(data: bytes) -> list[dict]:
    """The whole v2 batches of a segment file: offsets, leader epoch, attributes, producer fields."""
    out, pos = [], 0
    while pos + 61 <= len(data):
        base, length, epoch = struct.unpack_from(">qii", data, pos)
        if length <= 0 or pos + 12 + length > len(data):
            break
        attributes, last_delta = struct.unpack_from(">hi", data, pos + 21)
        producer_id, producer_epoch, base_sequence = struct.unpack_from(">qhi", data, pos + 43)
        out.append({"base": base, "end": base + last_delta + 1, "epoch": epoch, "attributes": attributes,
                    "producer_id": producer_id, "producer_epoch": producer_epoch, "base_sequence": base_sequence,
                    "pos": pos, "size": 12 + length})
        pos += 12 + length
    return out


def append_markers(log_dir, group: str, markers: list[tuple[int, bool]]) -> None:
    """Appends control batches to the tail of the group's __consumer_offsets partition (the broker
    is stopped; the crash recovery at start-up validates and keeps them)."""
    segment = offsets_segment(log_dir, group)
    headers = batch_headers(segment.read_bytes())
    assert headers
    pos, end, epoch = headers[-1]["pos"] + headers[-1]["size"], headers[-1]["end"], headers[-1]["epoch"]
    with open(segment, "r+b") as f:
        f.seek(pos)
        f.truncate()
        for producer_id, commit in markers:
            f.write(control_batch(end, epoch, producer_id, commit))
            end += 1


def test_replay_completes_txn_offsets_at_their_markers(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("txnmark")
    group = harness.unique_topic("txnmg")
    clients.create_topic(g.bootstrap, topic, partitions=2)
    wait_for_coordinator(g.bootstrap, group)
    commit_simple(g.bootstrap, group, topic, 42)
    pids = []
    for partition, offset in ((0, 100), (1, 200)):
        txn_id = harness.unique_topic("txnid")
        producer_id, epoch = begin_txn(g.bootstrap, txn_id, [group])
        pids.append(producer_id)
        body = kw.round_trip(g.bootstrap, txn_offset_commit(6, 3, group, producer_id, {(topic, partition): (offset, "")},
                                                            txn_id=txn_id, epoch=epoch))
        assert parse_txn_offset_commit(body, 3) == {(topic, partition): NONE}
    g.kill()
    append_markers(g.log_dir, group, [(pids[0], True), (pids[1], False)])
    g.start()
    wait_for_coordinator(g.bootstrap, group)
    assert fetch(g.bootstrap, group, topic, True) == (100, NONE)  # committed by its marker

    def partition1(require_stable):
        body = kw.round_trip(g.bootstrap, offset_fetch_v7(3, group, topic, 1, require_stable))
        return parse_offset_fetch_v7(body)[(topic, 1)]
    assert partition1(True) == (-1, NONE)  # aborted: nothing, and stable again
