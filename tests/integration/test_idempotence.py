"""Proves the idempotent producer end to end: InitProducerId hands out ids that survive restarts;
Produce applies Kafka's sequence rules (a retried batch gets its original offset and is stored
once, gaps, stale epochs and unknown producers are refused with Kafka's codes), also after a clean
or SIGKILL restart; librdkafka with enable.idempotence writes exactly one copy of every record, in
order, while a proxy kills its connections before Produce responses arrive and while the broker is
SIGKILLed and restarted; DescribeProducers lists the producers of a partition."""
from __future__ import annotations

import random
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

import clients
import harness
import kafka_wire

API_INIT_PRODUCER_ID = 22
API_DESCRIBE_PRODUCERS = 61
ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45
ERR_INVALID_PRODUCER_EPOCH = 47
ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
ERR_INVALID_TRANSACTION_TIMEOUT = 50
ERR_INVALID_REQUEST = 42

# ---------------------------------------------------------------- record batch v2 by hand


def record_batch(pid: int, epoch: int, seq: int, values: list[bytes], timestamp_ms: int | None = None) -> bytes:
    now = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    records = b""
    for i, v in enumerate(values):
        records += kafka_wire.encode_record(i, None, v)
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, now, now, pid, epoch, seq, len(values)) + records
    head = struct.pack(">ib", -1, 2) + struct.pack(">I", kafka_wire.crc32c(after_crc))
    batch = head + after_crc
    return struct.pack(">qi", 0, len(batch)) + batch


# ---------------------------------------------------------------- requests by hand


def init_producer_id(bootstrap: str, transactional_id: str | None = None,
                     timeout_ms: int = 60000) -> tuple[int, int, int]:
    """InitProducerId v0 → (error_code, producer_id, epoch)."""
    body = kafka_wire.encode_string(transactional_id) + struct.pack(">i", timeout_ms)
    resp = kafka_wire.round_trip(bootstrap, kafka_wire.request(API_INIT_PRODUCER_ID, 0, 7, body))
    assert resp is not None, "broker closed the connection on InitProducerId"
    corr, _throttle, err, pid, epoch = struct.unpack(">iihqh", resp[:20])
    assert corr == 7
    return err, pid, epoch


def produce(sock: socket.socket, topic: str, batch: bytes, corr: int = 1) -> tuple[int, int]:
    """Produce v8, acks=-1, one partition (0) → (error_code, base_offset)."""
    err, base, _message = produce_with_message(sock, topic, batch, corr)
    return err, base


def produce_with_message(sock: socket.socket, topic: str, batch: bytes, corr: int = 1) -> tuple[int, int, str | None]:
    """Produce v8, acks=-1, one partition (0) → (error_code, base_offset, error_message)."""
    body = (kafka_wire.encode_string(None) + struct.pack(">hi", -1, 30000) + struct.pack(">i", 1)
            + kafka_wire.encode_string(topic) + struct.pack(">i", 1) + struct.pack(">ii", 0, len(batch))
            + batch)
    sock.sendall(kafka_wire.request(kafka_wire.API_PRODUCE, 8, corr, body))
    resp = kafka_wire.read_response(sock)
    assert resp is not None, "broker closed the connection on Produce"
    r = kafka_wire.reader(resp)
    got_corr = r.take(">i")
    assert got_corr == corr
    ntopics = r.take(">i")
    assert ntopics == 1
    r.string()
    nparts = r.take(">i")
    assert nparts == 1
    _index, err, base, _append_time, _log_start = r.take(">ihqqq")
    for _ in range(r.take(">i")):  # record_errors
        r.take(">i")
        r.string()
    message = r.string()
    return err, base, message


def describe_producers(bootstrap: str, topic: str) -> list[tuple[int, int, int]]:
    """DescribeProducers v0 (flexible) for partition 0 → [(producer_id, epoch, last_sequence)]."""
    body = (kafka_wire.encode_uvarint(2) + kafka_wire.encode_compact_string(topic)
            + kafka_wire.encode_uvarint(2) + struct.pack(">i", 0) + b"\x00" + b"\x00")
    resp = kafka_wire.round_trip(bootstrap, kafka_wire.request(API_DESCRIBE_PRODUCERS, 0, 9, body, flexible=True))
    assert resp is not None
    r = kafka_wire.reader(resp)
    corr = r.take(">i")
    assert corr == 9
    r.skip_tagged_fields()  # response header v1
    r.take(">i")  # throttle
    assert r.uvarint() - 1 == 1
    name_len = r.uvarint() - 1
    r.take(f">{name_len}s")
    assert r.uvarint() - 1 == 1
    _index, err = r.take(">ih")
    assert err == 0, f"DescribeProducers error {err}"
    msg_len = r.uvarint() - 1
    if msg_len > 0:
        r.take(f">{msg_len}s")
    out = []
    for _ in range(r.uvarint() - 1):
        pid, epoch, last_seq, _ts, _coord, _txn = r.take(">qiiqiq")
        r.skip_tagged_fields()
        out.append((pid, epoch, last_seq))
    return out


def values_in(bootstrap: str, topic: str, expected: int | None = None, timeout_s: float = 60) -> list[bytes]:
    return [m.value() for m in clients.consume_all(bootstrap, topic, expected=expected, timeout_s=timeout_s)]


# ---------------------------------------------------------------- the rules, byte by byte


@pytest.mark.gregor_only
def test_retried_batch_gets_its_original_offset_and_is_stored_once(broker):
    topic = harness.unique_topic("idem-dup")
    clients.create_topic(broker.bootstrap, topic)
    err, pid, epoch = init_producer_id(broker.bootstrap)
    assert err == 0 and pid >= 0 and epoch == 0
    first = record_batch(pid, epoch, 0, [b"a", b"b", b"c"])
    with kafka_wire.connect(broker.bootstrap) as sock:
        assert produce(sock, topic, first, 1) == (0, 0)
        assert produce(sock, topic, record_batch(pid, epoch, 3, [b"d"]), 2) == (0, 3)
        assert produce(sock, topic, first, 3) == (0, 0)  # the retry: original offset, no append
        assert produce(sock, topic, record_batch(pid, epoch, 4, [b"e"]), 4) == (0, 4)
    assert values_in(broker.bootstrap, topic, 5) == [b"a", b"b", b"c", b"d", b"e"]
    assert describe_producers(broker.bootstrap, topic) == [(pid, epoch, 4)]


@pytest.mark.gregor_only
def test_gap_and_stale_epoch_are_refused_with_kafkas_codes(broker):
    topic = harness.unique_topic("idem-rules")
    clients.create_topic(broker.bootstrap, topic)
    _, pid, _ = init_producer_id(broker.bootstrap)
    with kafka_wire.connect(broker.bootstrap) as sock:
        assert produce(sock, topic, record_batch(pid, 5, 0, [b"x"]), 1) == (0, 0)
        # Each refusal: Kafka's code, and a message naming the producer and the numbers at fault.
        assert produce_with_message(sock, topic, record_batch(pid, 5, 2, [b"gap"]), 2) == (
            ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, -1,
            f"producer {pid} epoch 5: batch sequence 2 does not follow the last sequence 0")
        assert produce_with_message(sock, topic, record_batch(pid, 4, 1, [b"old epoch"]), 3) == (
            ERR_INVALID_PRODUCER_EPOCH, -1, f"producer {pid} epoch 4 is older than its current epoch 5")
        # A new epoch must restart at sequence 0, and then it is accepted.
        assert produce_with_message(sock, topic, record_batch(pid, 6, 1, [b"bad new epoch"]), 5) == (
            ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, -1, f"producer {pid} new epoch 6 must start at sequence 0, not 1")
        assert produce(sock, topic, record_batch(pid, 6, 0, [b"y"]), 6) == (0, 1)
    assert values_in(broker.bootstrap, topic, 2) == [b"x", b"y"]


def test_a_transactional_id_gets_a_producer_id_and_bad_ids_and_timeouts_are_refused(broker):
    import test_txn_offset_commit as txoc
    pid, epoch = txoc.begin_txn(broker.bootstrap, harness.unique_topic("txn"), [])
    assert pid >= 0 and epoch == 0
    # Above transaction.max.timeout.ms (15 minutes by default), and an empty transactional id.
    err, pid, _ = init_producer_id(broker.bootstrap, transactional_id=harness.unique_topic("txn"),
                                   timeout_ms=900001)
    assert (err, pid) == (ERR_INVALID_TRANSACTION_TIMEOUT, -1)
    err, pid, _ = init_producer_id(broker.bootstrap, transactional_id="")
    assert (err, pid) == (ERR_INVALID_REQUEST, -1)


@pytest.mark.parametrize("how", ["clean", "sigkill"])
def test_retry_after_restart_is_still_a_duplicate_and_ids_are_not_reused(gregor_factory, how):
    # Short-lived segments: several rolls, so the state comes from a snapshot plus the batches after
    # it.
    g = gregor_factory()
    topic = harness.unique_topic("idem-restart")
    clients.create_topic(g.bootstrap, topic, config={"segment.ms": "10"})
    _, pid, epoch = init_producer_id(g.bootstrap)
    batches = [record_batch(pid, epoch, i * 2, [b"r%d" % (i * 2), b"r%d" % (i * 2 + 1)]) for i in range(12)]
    with kafka_wire.connect(g.bootstrap) as sock:
        for i, b in enumerate(batches):
            # segment.ms (10) has passed since the last append, so since the active segment's first:
            # this one rolls. The wait is 300 ms, not 10: on a loaded machine the broker stamps the
            # segment's first append up to tens of ms after the client saw its acknowledgement.
            if i and i % 3 == 0:
                harness.wait_older_than(acked_at, 300, "segment.ms")
            assert produce(sock, topic, b, i + 1) == (0, i * 2)
            acked_at = time.time()
            if i and i % 3 == 0:  # (other appends may roll too on a slow machine: 10ms is short)
                assert i * 2 in harness.segment_bases(g.log_dir, topic), harness.segment_bases(g.log_dir, topic)
    if how == "clean":
        g.restart()
    else:
        g.kill_and_restart()
    with kafka_wire.connect(g.bootstrap) as sock:
        for i in (7, 11, 9):  # among the last five: recognised, original offsets
            assert produce(sock, topic, batches[i], 100 + i) == (0, i * 2)
        err, _ = produce(sock, topic, record_batch(pid, epoch, 30, [b"gap"]), 200)
        assert err == ERR_OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce(sock, topic, record_batch(pid, epoch, 24, [b"r24"]), 201) == (0, 24)
    assert values_in(g.bootstrap, topic, 25) == [b"r%d" % i for i in range(25)]
    _, pid2, _ = init_producer_id(g.bootstrap)
    assert pid2 > pid, "a producer id was handed out twice across a restart"


def test_idle_producer_expires_after_producer_id_expiration_ms(gregor_factory):
    g = gregor_factory({"producer.id.expiration.ms": "300"})
    topic = harness.unique_topic("idem-expire")
    clients.create_topic(g.bootstrap, topic)
    _, pid, epoch = init_producer_id(g.bootstrap)
    with kafka_wire.connect(g.bootstrap) as sock:
        assert produce(sock, topic, record_batch(pid, epoch, 0, [b"a"]), 1) == (0, 0)
        assert produce(sock, topic, record_batch(pid, epoch, 1, [b"b"]), 2) == (0, 1)
        # Expired: DescribeProducers (a read, which does not refresh the producer) stops listing it.
        harness.wait_until(lambda: describe_producers(g.bootstrap, topic) == [], timeout_s=15,
                           interval_s=0.1, what="the idle producer to expire")
        # Unknown again, its next batch is accepted at its sequence (Kafka since KIP-360: no
        # UNKNOWN_PRODUCER_ID), and the producer is tracked from there.
        assert produce(sock, topic, record_batch(pid, epoch, 2, [b"c"]), 3) == (0, 2)
        err, _ = produce(sock, topic, record_batch(pid, epoch, 5, [b"gap"]), 4)
        assert err == ERR_OUT_OF_ORDER_SEQUENCE_NUMBER
    assert describe_producers(g.bootstrap, topic) == [(pid, epoch, 2)]


# ---------------------------------------------------------------- real clients


def test_confluent_kafka_idempotent_producer_writes_each_record_once_in_order(broker):
    topic = harness.unique_topic("idem-ck")
    clients.create_topic(broker.bootstrap, topic)
    values = [b"m%05d" % i for i in range(3000)]
    clients.produce_all(broker.bootstrap, topic, [{"value": v} for v in values], enable_idempotence=True,
                        max_in_flight_requests_per_connection=5, linger_ms=2, batch_num_messages=50)
    assert values_in(broker.bootstrap, topic, len(values)) == values


class response_dropping_proxy:
    """TCP proxy in front of a broker that, for some Produce requests, closes both connections
    after the broker got the request but before its response reaches the client (the retry storm:
    the write happened, the client does not know)."""

    def __init__(self, target_port: int, drops_max: int, drop_probability: float, seed: int):
        self.target_port = target_port
        self.drops_left = drops_max
        self.drops = 0
        self.p = drop_probability
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopping = True
        self.listener.close()

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            produce_corrs: set[int] = set()
            threading.Thread(target=self._requests, args=(client, upstream, produce_corrs), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, client, produce_corrs), daemon=True).start()

    @staticmethod
    def _frame(sock: socket.socket) -> bytes | None:
        size = kafka_wire.recv_exact(sock, 4)
        if size is None:
            return None
        body = kafka_wire.recv_exact(sock, struct.unpack(">i", size)[0])
        return None if body is None else size + body

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _requests(self, client, upstream, produce_corrs):
        try:
            while True:
                frame = self._frame(client)
                if frame is None:
                    break
                api_key, _version, corr = struct.unpack(">hhi", frame[4:12])
                if api_key == kafka_wire.API_PRODUCE:
                    produce_corrs.add(corr)
                upstream.sendall(frame)
        except OSError:
            pass
        self._close(client, upstream)

    def _responses(self, upstream, client, produce_corrs):
        try:
            while True:
                frame = self._frame(upstream)
                if frame is None:
                    break
                (corr,) = struct.unpack(">i", frame[4:8])
                if corr in produce_corrs:
                    with self.lock:
                        drop = self.drops_left > 0 and self.rng.random() < self.p
                        if drop:
                            self.drops_left -= 1
                            self.drops += 1
                    if drop:
                        break
                client.sendall(frame)
        except OSError:
            pass
        self._close(client, upstream)


def test_retry_storm_through_a_response_dropping_proxy_stores_each_record_once_in_order(gregor_factory):
    g = gregor_factory(start=False)
    seed = random.randrange(1 << 30)
    proxy = response_dropping_proxy(g.port, drops_max=12, drop_probability=0.25, seed=seed)
    # Clients must come back through the proxy after the bootstrap, so the broker advertises it.
    g.extra_sets["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{proxy.port}"
    g.start()
    try:
        topic = harness.unique_topic("idem-storm")
        clients.create_topic(g.bootstrap, topic)
        values = [b"s%05d" % i for i in range(2000)]
        clients.produce_all(f"127.0.0.1:{proxy.port}", topic, [{"value": v} for v in values],
                            enable_idempotence=True, linger_ms=5, batch_num_messages=20,
                            retry_backoff_ms=20, reconnect_backoff_ms=10, reconnect_backoff_max_ms=100)
        assert proxy.drops > 0, f"the proxy dropped no Produce response (seed {seed})"
        assert values_in(g.bootstrap, topic, len(values)) == values, f"seed {seed}"
    finally:
        proxy.close()


def test_sigkill_and_restart_while_an_idempotent_producer_retries_loses_and_duplicates_nothing(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("idem-kill")
    clients.create_topic(g.bootstrap, topic)
    values = [b"k%05d" % i for i in range(3000)]
    p = clients.producer(g.bootstrap, enable_idempotence=True, linger_ms=5, batch_num_messages=25,
                         retry_backoff_ms=50, reconnect_backoff_ms=50, message_timeout_ms=120000)
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for i, v in enumerate(values):
        p.produce(topic, value=v, on_delivery=on_delivery)
        p.poll(0)
        if i == 1500:
            p.flush(0.05)  # some requests in flight
            g.kill_and_restart()
        elif i % 100 == 0:
            time.sleep(0.01)  # pacing the load, not a wait
    assert p.flush(120) == 0
    assert not errors, f"delivery errors: {errors[:5]}"
    assert values_in(g.bootstrap, topic, len(values)) == values


@pytest.mark.timeout(300)
def test_franz_go_with_default_settings_writes_each_record_once_in_order(broker, tmp_path):
    # franz-go enables idempotence by default; the program lives in tests/go/franz_idempotence.
    binary = harness.build_franz_idempotence(tmp_path)
    topic = harness.unique_topic("idem-franz")
    run = subprocess.run([str(binary), "-bootstrap", broker.bootstrap, "-topic", topic, "-count", "2000"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"franz-go check failed:\n{run.stdout}\n{run.stderr}"


@pytest.mark.java
@pytest.mark.timeout(300)
def test_kafka_transactions_cli_describes_the_producers_of_a_partition(broker, kafka_classpath):
    if shutil.which("java") is None:
        pytest.skip("java not installed")
    topic = harness.unique_topic("idem-cli")
    clients.create_topic(broker.bootstrap, topic)
    _, pid, epoch = init_producer_id(broker.bootstrap)
    # An hour old (expiry is a day): the producer's last timestamp is its batch's max timestamp,
    # not the time the broker appended it.
    batch_ts = int(time.time() * 1000) - 3_600_000
    with kafka_wire.connect(broker.bootstrap) as sock:
        assert produce(sock, topic, record_batch(pid, epoch, 0, [b"a", b"b", b"c"], batch_ts), 1) == (0, 0)
    out = harness.run_java_tool(kafka_classpath, "org.apache.kafka.tools.TransactionsCommand",
                                "--bootstrap-server", broker.bootstrap, "describe-producers", "--topic", topic,
                                "--partition", "0", timeout_s=120)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    rows = [line.split() for line in out.stdout.splitlines() if line.split()[:1] == [str(pid)]]
    assert rows, out.stdout
    # ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset
    assert rows[0][1] == str(epoch) and rows[0][3] == "2" and rows[0][4] == str(batch_ts), out.stdout
