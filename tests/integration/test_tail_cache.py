"""Proves the logs' tail cache (src/storage/tail_cache.h, log.tail.cache.max.bytes): consumers
reading what producers just wrote are served from memory, not from the files; with a small bound
the oldest data is read back from the files, byte for byte the same; /metrics reports the memory
held against the bound and where read bytes came from."""
from __future__ import annotations

import pytest

import clients
import harness
import kafka_wire
from test_ops import metrics

MB = 1 << 20


def read_bytes(m: dict[str, float], source: str) -> float:
    return m.get(f'gregor_log_read_bytes_total{{source="{source}"}}', 0.0)


def produce_big_batches(bootstrap: str, topic: str, count: int, value_bytes: int) -> None:
    # Large batches take the O_DIRECT append path (>= 64 KiB), which bypasses the page cache.
    clients.produce_all(bootstrap, topic,
                        [{"value": bytes([i % 251]) * value_bytes, "key": b"k%d" % i} for i in range(count)],
                        linger_ms=50, batch_size=1 << 20, compression_type="none")


def check_consumed(bootstrap: str, topic: str, count: int, value_bytes: int) -> None:
    msgs = clients.consume_all(bootstrap, topic, expected=count, timeout_s=60,
                               fetch_max_bytes=8 * MB, max_partition_fetch_bytes=8 * MB)
    assert [m.key() for m in msgs] == [b"k%d" % i for i in range(count)]
    assert all(m.value() == bytes([i % 251]) * value_bytes for i, m in enumerate(msgs))


@pytest.mark.gregor_only
@pytest.mark.parametrize("io", ["buffered", "direct"])
def test_consumers_tailing_a_producer_read_from_memory(gregor_factory, io):
    g = gregor_factory({"log.direct.io": "true" if io == "direct" else "false"})
    topic = harness.unique_topic("tail")
    clients.create_topic(g.bootstrap, topic, partitions=1)
    before = metrics(g)
    produce_big_batches(g.bootstrap, topic, 400, 10_000)  # ~4 MB, within the default 32 MiB
    check_consumed(g.bootstrap, topic, 400, 10_000)
    after = metrics(g)
    assert read_bytes(after, "memory") - read_bytes(before, "memory") >= 400 * 10_000
    assert read_bytes(after, "file") == read_bytes(before, "file")
    assert after["gregor_log_tail_cache_max_bytes"] == 32 * MB  # the default
    assert 4_000_000 <= after["gregor_log_tail_cache_bytes"] <= 32 * MB


@pytest.mark.gregor_only
def test_a_small_bound_holds_and_older_data_comes_from_the_files(gregor_factory):
    g = gregor_factory({"log.tail.cache.max.bytes": str(MB)})
    topics = [harness.unique_topic("tail-small") for _ in range(2)]
    for t in topics:
        clients.create_topic(g.bootstrap, t, partitions=1)
    before = metrics(g)
    for t in topics:
        produce_big_batches(g.bootstrap, t, 300, 10_000)  # 3 MB each, 1 MiB of memory in all
    m = metrics(g)
    assert 0 < m["gregor_log_tail_cache_bytes"] <= MB
    assert m["gregor_log_tail_cache_evicted_bytes_total"] >= 4 * MB
    for t in topics:
        check_consumed(g.bootstrap, t, 300, 10_000)
    after = metrics(g)
    assert read_bytes(after, "file") - read_bytes(before, "file") >= 4 * MB
    assert read_bytes(after, "memory") - read_bytes(before, "memory") > 0  # the newest stayed


@pytest.mark.gregor_only
def test_after_a_restart_the_data_is_read_from_the_files(gregor_factory):
    g = gregor_factory()
    topic = harness.unique_topic("tail-restart")
    clients.create_topic(g.bootstrap, topic, partitions=1)
    produce_big_batches(g.bootstrap, topic, 100, 10_000)
    g.restart()
    check_consumed(g.bootstrap, topic, 100, 10_000)
    m = metrics(g)
    assert read_bytes(m, "file") >= 100 * 10_000
    assert read_bytes(m, "memory") == 0


@pytest.mark.gregor_only
def test_a_zero_bound_turns_the_cache_off(gregor_factory):
    g = gregor_factory({"log.tail.cache.max.bytes": "0"})
    topic = harness.unique_topic("tail-off")
    clients.create_topic(g.bootstrap, topic, partitions=1)
    produce_big_batches(g.bootstrap, topic, 100, 10_000)
    check_consumed(g.bootstrap, topic, 100, 10_000)
    m = metrics(g)
    assert m["gregor_log_tail_cache_bytes"] == 0
    assert m["gregor_log_tail_cache_max_bytes"] == 0
    assert read_bytes(m, "memory") == 0
    assert read_bytes(m, "file") >= 100 * 10_000


@pytest.mark.gregor_only
def test_fetch_memory_max_bytes_bounds_what_one_consumer_fetch_holds(gregor_factory):
    """fetch.memory.max.bytes: a Fetch asking for 50 MiB from a 6 MB log gets at most the account's
    1 MiB plus one batch (a first batch larger than what is left still goes out); the next fetch
    goes on from there, and /metrics shows the bound and nothing held once the answers are written."""
    g = gregor_factory({"fetch.memory.max.bytes": str(MB)})
    topic = harness.unique_topic("fetch-mem")
    clients.create_topic(g.bootstrap, topic, partitions=1)
    produce_big_batches(g.bootstrap, topic, 600, 10_000)
    sock = kafka_wire.connect(g.bootstrap, timeout_s=30)
    try:
        offset, answers = 0, 0
        while offset < 600:
            sock.sendall(kafka_wire.fetch_request_v11(answers + 1, {topic: {0: offset}}, max_bytes=50 * MB,
                                                      partition_max_bytes=50 * MB))
            body = kafka_wire.read_response(sock)
            assert body is not None, "the broker closed the connection"
            part = kafka_wire.parse_fetch_v11(body)["partitions"][(topic, 0)]
            assert part["error_code"] == 0
            batches = part["batches"]
            assert batches, f"no records at offset {offset}"
            base, count = batches[0]  # (base offset, record count) of each whole batch
            assert base <= offset < base + count
            # Each batch of the producer holds ~1 MiB at most (batch.size), so one answer holds
            # less than the 1 MiB account plus one such batch.
            records = sum(n for _, n in batches)
            assert records * 10_000 < 2 * MB + 64 * 1024, f"{records} records in one answer"
            offset = batches[-1][0] + batches[-1][1]
            answers += 1
        assert answers >= 3  # 6 MB through a 1 MiB account
    finally:
        sock.close()
    m = metrics(g)
    assert m["gregor_fetch_memory_max_bytes"] == MB
    harness.wait_until(lambda: metrics(g)["gregor_fetch_memory_bytes"] == 0, timeout_s=30,
                       what="fetch memory given back")


@pytest.mark.gregor_only
def test_a_readahead_bound_below_one_read_still_serves_every_partition(gregor_factory):
    """log.readahead.max.bytes bounds the background reads of data below the tail cache. With the
    bound far below one read, background reads are refused (counted in /metrics) and the Fetch
    reads those parts itself: every record of every partition arrives, in order."""
    g = gregor_factory({"log.readahead.max.bytes": str(64 << 10), "log.tail.cache.max.bytes": str(MB)})
    topic = harness.unique_topic("ra-bound")
    clients.create_topic(g.bootstrap, topic, partitions=4)
    count, value_bytes = 150, 10_000  # 1.5 MB a partition, 6 MB in all, 1 MiB of tail cache
    clients.produce_all(g.bootstrap, topic,
                        [{"value": bytes([(p * 7 + i) % 251]) * value_bytes, "key": b"%d-%d" % (p, i), "partition": p}
                         for p in range(4) for i in range(count)],
                        linger_ms=50, batch_size=1 << 20, compression_type="none")
    before = metrics(g)
    msgs = clients.consume_all(g.bootstrap, topic, partitions=4, expected=4 * count, timeout_s=120,
                               fetch_max_bytes=8 * MB, max_partition_fetch_bytes=2 * MB)
    for p in range(4):
        got = [m for m in msgs if m.partition() == p]
        assert [m.key() for m in got] == [b"%d-%d" % (p, i) for i in range(count)]
        assert all(m.value() == bytes([(p * 7 + i) % 251]) * value_bytes for i, m in enumerate(got))
    after = metrics(g)
    assert after["gregor_log_readahead_max_bytes"] == 64 << 10
    assert after["gregor_log_readahead_bytes"] <= 64 << 10
    assert after["gregor_log_readahead_refused_total"] > before.get("gregor_log_readahead_refused_total", 0)
    assert read_bytes(after, "file") - read_bytes(before, "file") >= 4 * MB


@pytest.mark.gregor_only
def test_the_readahead_bound_defaults_to_48_mib(gregor_factory):
    m = metrics(gregor_factory())
    assert m["gregor_log_readahead_max_bytes"] == 48 * MB
    assert m["gregor_log_readahead_bytes"] <= 48 * MB


def fill_cold_and_hot(g, topic: str) -> None:
    """Partition 1: 3 MB in batches of ~128 KiB (O_DIRECT appends), mostly below the 1 MiB tail
    cache, so its start is on the device only; partition 0: 50 small records written after it, in
    memory. Fetches ask for 512 KiB a partition: several whole batches, and more than the 64 KiB
    readahead bound of these tests, so partition 1's reads are never prepared in the background."""
    clients.create_topic(g.bootstrap, topic, partitions=2)
    clients.produce_all(g.bootstrap, topic,
                        [{"value": bytes([i % 251]) * 10_000, "key": b"1-%d" % i, "partition": 1} for i in range(300)],
                        linger_ms=50, batch_size=128 << 10, compression_type="none")
    clients.produce_all(g.bootstrap, topic,
                        [{"value": b"x" * 1000, "key": b"0-%d" % i, "partition": 0} for i in range(50)],
                        compression_type="none")


@pytest.mark.gregor_only
def test_a_partition_on_the_device_is_never_left_out_of_two_fetches_in_a_row(gregor_factory):
    """A consumer Fetch may leave out a partition whose bytes are still on the device when other
    partitions return records from memory (the client asks again at once, src/server/handlers/
    fetch.cc); the next Fetch that asks for it reads it. A client that lists its partitions in a
    fixed order and always finds records in partition 0 (it fetches it from offset 0 every time)
    still reads all of partition 1, with records from it in at least every second answer."""
    g = gregor_factory({"log.readahead.max.bytes": str(64 << 10), "log.tail.cache.max.bytes": str(MB)})
    topic = harness.unique_topic("defer-fair")
    fill_cold_and_hot(g, topic)
    sock = kafka_wire.connect(g.bootstrap, timeout_s=30)
    try:
        offset, fetches, empty_in_a_row, left_out = 0, 0, 0, 0
        while offset < 300:
            fetches += 1
            assert fetches <= 200, f"partition 1 at offset {offset} after 200 fetches"
            sock.sendall(kafka_wire.fetch_request_v11(fetches, {topic: {0: 0, 1: offset}}, max_bytes=8 * MB,
                                                      partition_max_bytes=512 << 10))
            body = kafka_wire.read_response(sock)
            assert body is not None, "the broker closed the connection"
            parts = kafka_wire.parse_fetch_v11(body)["partitions"]
            assert parts[(topic, 0)]["error_code"] == 0 and parts[(topic, 0)]["batches"]
            p1 = parts[(topic, 1)]
            assert p1["error_code"] == 0
            if p1["batches"]:
                base, count = p1["batches"][0]
                assert base <= offset < base + count
                offset = p1["batches"][-1][0] + p1["batches"][-1][1]
                empty_in_a_row = 0
            else:
                left_out += 1
                empty_in_a_row += 1
                assert empty_in_a_row < 2, f"partition 1 left out of two fetches in a row at offset {offset}"
        # The case this test is about happened: partition 1 was left out while partition 0 answered.
        assert left_out > 0
    finally:
        sock.close()
    assert metrics(g)["gregor_log_readahead_refused_total"] > 0


@pytest.mark.gregor_only
def test_a_fetch_short_of_min_bytes_without_the_partitions_on_the_device_reads_them_too(gregor_factory):
    """Leaving a partition on the device out must not make a Fetch wait: with fetch.min.bytes above
    what the partitions in memory hold, the answer carries the device partition's records as well
    (Kafka answers at once when the bytes available reach min_bytes)."""
    g = gregor_factory({"log.readahead.max.bytes": str(64 << 10), "log.tail.cache.max.bytes": str(MB)})
    topic = harness.unique_topic("defer-min")
    fill_cold_and_hot(g, topic)
    sock = kafka_wire.connect(g.bootstrap, timeout_s=60)
    try:
        sock.sendall(kafka_wire.fetch_request_v11(1, {topic: {0: 0, 1: 0}}, max_bytes=8 * MB, min_bytes=200_000,
                                                  max_wait_ms=30_000, partition_max_bytes=512 << 10))
        body = kafka_wire.read_response(sock)
        assert body is not None, "the broker closed the connection"
        parts = kafka_wire.parse_fetch_v11(body)["partitions"]
        assert parts[(topic, 0)]["batches"]
        assert parts[(topic, 1)]["batches"], "partition 1's records were left out of a fetch short of min_bytes"
        assert parts[(topic, 1)]["batches"][0][0] == 0
    finally:
        sock.close()
