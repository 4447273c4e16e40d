"""Proves the partition-leader side of an open transaction over the wire (the transaction is
opened with InitProducerId and AddPartitionsToTxn frames, no marker is written): a transactional
batch is accepted with a transactional id and holds the last stable offset at its first offset; read_committed Fetch returns nothing from
there while read_uncommitted returns everything; ListOffsets read_committed answers the last
stable offset; DescribeProducers shows the transaction's start; a plain batch from the producer in
its transaction is INVALID_TXN_STATE; and all of it survives a clean or SIGKILL restart."""
from __future__ import annotations

import struct
import time

import pytest

import clients
import harness
import kafka_wire
import test_idempotence as idem
import test_txn_offset_commit as txoc

API_LIST_OFFSETS = 2
ERR_INVALID_TXN_STATE = 48
ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
ATTR_TRANSACTIONAL = 0x10


def txn_batch(pid: int, epoch: int, seq: int, values: list[bytes], attributes: int = ATTR_TRANSACTIONAL) -> bytes:
    """A v2 record batch like test_idempotence.record_batch, with the given attributes."""
    now = int(time.time() * 1000)
    records = b""
    for i, v in enumerate(values):
        records += kafka_wire.encode_record(i, None, v)
    after_crc = struct.pack(">hiqqqhii", attributes, len(values) - 1, now, now, pid, epoch, seq, len(values)) + records
    batch = struct.pack(">ib", -1, 2) + struct.pack(">I", kafka_wire.crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(batch)) + batch


def produce(bootstrap: str, topic: str, batch: bytes, transactional_id: str | None) -> tuple[int, int]:
    """Produce v8, acks=-1, partition 0, with a transactional id → (error_code, base_offset)."""
    return produce_with_message(bootstrap, topic, batch, transactional_id)[:2]


def produce_with_message(bootstrap: str, topic: str, batch: bytes,
                         transactional_id: str | None) -> tuple[int, int, str | None]:
    """Produce v8, acks=-1, partition 0 → (error_code, base_offset, error_message)."""
    body = (kafka_wire.encode_string(transactional_id) + struct.pack(">hi", -1, 30000) + struct.pack(">i", 1)
            + kafka_wire.encode_string(topic) + struct.pack(">i", 1) + struct.pack(">ii", 0, len(batch)) + batch)
    resp = kafka_wire.round_trip(bootstrap, kafka_wire.request(kafka_wire.API_PRODUCE, 8, 5, body))
    assert resp is not None, "broker closed the connection on Produce"
    r = kafka_wire.reader(resp)
    assert r.take(">i") == 5
    assert r.take(">i") == 1
    r.string()
    assert r.take(">i") == 1
    _index, err, base, _append_time, _log_start = r.take(">ihqqq")
    for _ in range(r.take(">i")):  # record_errors
        r.take(">i")
        r.string()
    return err, base, r.string()


def open_txn(bootstrap: str, txn_id: str, topic: str) -> tuple[int, int]:
    """InitProducerId for `txn_id`, then AddPartitionsToTxn v1 for topic-0; (producer id, epoch)."""
    pid, epoch = txoc.begin_txn(bootstrap, txn_id, [])
    body = (kafka_wire.encode_string(txn_id) + struct.pack(">qh", pid, epoch) + struct.pack(">i", 1)
            + kafka_wire.encode_string(topic) + struct.pack(">ii", 1, 0))
    resp = kafka_wire.round_trip(bootstrap, kafka_wire.request(24, 1, 7, body))
    r = kafka_wire.reader(resp)
    assert r.take(">i") == 7
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    assert r.string() == topic
    assert r.take(">i") == 1
    assert r.take(">ih") == (0, 0)
    return pid, epoch


def fetch(bootstrap: str, topic: str, isolation_level: int, max_wait_ms: int = 0) -> dict:
    frame = kafka_wire.fetch_request_v11(1, {topic: {0: 0}}, isolation_level=isolation_level,
                                         max_wait_ms=max_wait_ms)
    resp = kafka_wire.round_trip(bootstrap, frame)
    assert resp is not None
    return kafka_wire.parse_fetch_v11(resp)["partitions"][(topic, 0)]


def latest_offset(bootstrap: str, topic: str, isolation_level: int) -> int:
    """ListOffsets v2, timestamp -1 (latest) for partition 0."""
    body = (struct.pack(">ib", -1, isolation_level) + struct.pack(">i", 1) + kafka_wire.encode_string(topic)
            + struct.pack(">i", 1) + struct.pack(">iq", 0, -1))
    resp = kafka_wire.round_trip(bootstrap, kafka_wire.request(API_LIST_OFFSETS, 2, 3, body))
    assert resp is not None
    r = kafka_wire.reader(resp)
    assert r.take(">i") == 3
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    r.string()
    assert r.take(">i") == 1
    _index, err, _ts, off = r.take(">ihqq")
    assert err == 0
    return off


def txn_start_offsets(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """DescribeProducers v0 for partition 0 → {producer_id: (coordinator_epoch, current_txn_start_offset)}."""
    body = (kafka_wire.encode_uvarint(2) + kafka_wire.encode_compact_string(topic)
            + kafka_wire.encode_uvarint(2) + struct.pack(">i", 0) + b"\x00" + b"\x00")
    resp = kafka_wire.round_trip(bootstrap, kafka_wire.request(idem.API_DESCRIBE_PRODUCERS, 0, 9, body,
                                                               flexible=True))
    assert resp is not None
    r = kafka_wire.reader(resp)
    assert r.take(">i") == 9
    r.skip_tagged_fields()
    r.take(">i")
    assert r.uvarint() - 1 == 1
    r.take(f">{r.uvarint() - 1}s")
    assert r.uvarint() - 1 == 1
    _index, err = r.take(">ih")
    assert err == 0
    msg_len = r.uvarint() - 1
    if msg_len > 0:
        r.take(f">{msg_len}s")
    out = {}
    for _ in range(r.uvarint() - 1):
        pid, _epoch, _last_seq, _ts, coord, txn_start = r.take(">qiiqiq")
        r.skip_tagged_fields()
        out[pid] = (coord, txn_start)
    return out


def check_open_transaction(bootstrap: str, topic: str, txn_pid: int, plain_pid: int) -> None:
    committed = fetch(bootstrap, topic, isolation_level=1)
    assert committed["error_code"] == 0
    assert committed["high_watermark"] == 3
    assert committed["last_stable_offset"] == 0
    assert committed["batches"] == []
    assert committed["aborted_transactions"] == []
    uncommitted = fetch(bootstrap, topic, isolation_level=0)
    assert uncommitted["last_stable_offset"] == 0
    assert [b for b, _ in uncommitted["batches"]] == [0, 1]
    assert latest_offset(bootstrap, topic, isolation_level=1) == 0
    assert latest_offset(bootstrap, topic, isolation_level=0) == 3
    producers = txn_start_offsets(bootstrap, topic)
    assert producers[txn_pid] == (-1, 0)
    assert producers[plain_pid] == (-1, -1)


@pytest.mark.gregor_only
def test_an_open_transaction_holds_the_last_stable_offset(broker):
    topic = harness.unique_topic("txn-read")
    clients.create_topic(broker.bootstrap, topic)
    txn_id = harness.unique_topic("txn-read-id")
    txn_pid, epoch = open_txn(broker.bootstrap, txn_id, topic)
    _, plain_pid, _ = idem.init_producer_id(broker.bootstrap)
    # Transactional records need a transactional id (Kafka: authorization against it).
    assert produce_with_message(broker.bootstrap, topic, txn_batch(txn_pid, epoch, 0, [b"t0"]), None) == (
        ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, "transactional records need a transactional id")
    assert produce(broker.bootstrap, topic, txn_batch(txn_pid, epoch, 0, [b"t0"]), txn_id) == (0, 0)
    assert produce(broker.bootstrap, topic, txn_batch(plain_pid, 0, 0, [b"p0", b"p1"], attributes=0), None) == (0, 1)
    check_open_transaction(broker.bootstrap, topic, txn_pid, plain_pid)
    # A plain batch of the producer inside its transaction is refused and changes nothing.
    assert produce_with_message(broker.bootstrap, topic, txn_batch(txn_pid, epoch, 1, [b"plain"], attributes=0),
                                None) == (ERR_INVALID_TXN_STATE, -1, f"producer {txn_pid} sent a non-transactional "
                                          "batch while its transaction from offset 0 is ongoing")
    check_open_transaction(broker.bootstrap, topic, txn_pid, plain_pid)


@pytest.mark.gregor_only
@pytest.mark.parametrize("how", ["clean", "sigkill"])
def test_an_open_transaction_survives_a_restart(gregor_factory, how):
    g = gregor_factory()
    topic = harness.unique_topic("txn-restart")
    clients.create_topic(g.bootstrap, topic)
    txn_id = harness.unique_topic("txn-restart-id")
    txn_pid, epoch = open_txn(g.bootstrap, txn_id, topic)
    _, plain_pid, _ = idem.init_producer_id(g.bootstrap)
    assert produce(g.bootstrap, topic, txn_batch(txn_pid, epoch, 0, [b"t0"]), txn_id) == (0, 0)
    assert produce(g.bootstrap, topic, txn_batch(plain_pid, 0, 0, [b"p0", b"p1"], attributes=0), None) == (0, 1)
    if how == "clean":
        g.restart()
    else:
        g.kill_and_restart()
    check_open_transaction(g.bootstrap, topic, txn_pid, plain_pid)
    err, _ = produce(g.bootstrap, topic, txn_batch(txn_pid, epoch, 1, [b"plain"], attributes=0), None)
    assert err == ERR_INVALID_TXN_STATE
    assert produce(g.bootstrap, topic, txn_batch(txn_pid, epoch, 1, [b"t1"]), txn_id) == (0, 3)
