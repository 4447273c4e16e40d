"""Proves that confluent-kafka (librdkafka) produces, consumes and administers topics against the
broker exactly as it does against Apache Kafka: all codecs, headers, timestamps, watermarks,
offsets-for-times, admin operations and the broker's message size limit."""
from __future__ import annotations

import os
import time

import pytest
from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, KafkaError,
                             TopicPartition)
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic

import clients
import harness

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_round_trips_keys_values_and_headers_in_order(bootstrap, codec):
    topic = harness.unique_topic(f"codec-{codec}")
    clients.create_topic(bootstrap, topic)
    sent = [{"key": f"k{i}".encode(), "value": (f"value-{i}-" * 20).encode(),
             "headers": [("h", f"{i}".encode()), ("codec", codec.encode())]} for i in range(200)]
    delivered = clients.produce_all(bootstrap, topic, sent, compression_codec=codec, linger_ms=20)
    assert [m.offset() for m in delivered] == list(range(200))
    got = clients.consume_all(bootstrap, topic, expected=200)
    assert [m.offset() for m in got] == list(range(200))
    assert [m.key() for m in got] == [s["key"] for s in sent]
    assert [m.value() for m in got] == [s["value"] for s in sent]
    assert [m.headers() for m in got] == [s["headers"] for s in sent]


def test_delivery_reports_carry_partition_and_consecutive_offsets(bootstrap):
    topic = harness.unique_topic("dr")
    clients.create_topic(bootstrap, topic, partitions=3)
    sent = [{"value": f"v{i}".encode(), "partition": i % 3} for i in range(30)]
    delivered = clients.produce_all(bootstrap, topic, sent)
    for p in range(3):
        offsets = [m.offset() for m in delivered if m.partition() == p]
        assert offsets == list(range(10)), f"partition {p}: {offsets}"


def test_create_time_set_by_producer_is_read_back(bootstrap):
    topic = harness.unique_topic("ct")
    clients.create_topic(bootstrap, topic)
    base_ms = int(time.time() * 1000) - 60_000
    clients.produce_all(bootstrap, topic, [{"value": b"a", "timestamp": base_ms},
                                           {"value": b"b", "timestamp": base_ms + 7}])
    got = clients.consume_all(bootstrap, topic, expected=2)
    assert [m.timestamp() for m in got] == [(TIMESTAMP_CREATE_TIME, base_ms),
                                            (TIMESTAMP_CREATE_TIME, base_ms + 7)]


def test_log_append_time_topic_overrides_producer_timestamps(bootstrap):
    topic = harness.unique_topic("lat")
    clients.create_topic(bootstrap, topic, config={"message.timestamp.type": "LogAppendTime"})
    before_ms = int(time.time() * 1000)
    producer_ts = before_ms - 3_600_000
    clients.produce_all(bootstrap, topic, [{"value": b"x", "timestamp": producer_ts}])
    after_ms = int(time.time() * 1000)
    (msg,) = clients.consume_all(bootstrap, topic, expected=1)
    kind, ts = msg.timestamp()
    assert kind == TIMESTAMP_LOG_APPEND_TIME
    assert before_ms - 5_000 <= ts <= after_ms + 5_000


def test_watermarks_track_produced_messages(bootstrap):
    topic = harness.unique_topic("wm")
    clients.create_topic(bootstrap, topic)
    c = clients.consumer(bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 0)
        clients.produce_all(bootstrap, topic, [{"value": b"%d" % i} for i in range(17)])
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 17)
    finally:
        c.close()


def test_offsets_for_times_finds_first_offset_at_or_after_timestamp(bootstrap):
    topic = harness.unique_topic("oft")
    clients.create_topic(bootstrap, topic)
    t0 = int(time.time() * 1000) - 100_000
    clients.produce_all(bootstrap, topic, [{"value": b"%d" % i, "timestamp": t0 + 1000 * i}
                                           for i in range(5)])
    c = clients.consumer(bootstrap)
    try:
        def lookup(ts):
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert tp.error is None
            return tp.offset
        assert lookup(t0) == 0
        assert lookup(t0 + 2500) == 3
        assert lookup(t0 + 4000) == 4
        assert lookup(t0 + 10_000) == -1  # past the last record: no offset
    finally:
        c.close()


def test_message_over_topic_max_message_bytes_is_refused_with_msg_size_too_large(bootstrap):
    topic = harness.unique_topic("big")
    clients.create_topic(bootstrap, topic, config={"max.message.bytes": "2048"})
    p = clients.producer(bootstrap, compression_codec="none")
    reports = []
    p.produce(topic, value=os.urandom(8192), on_delivery=lambda err, msg: reports.append(err))
    assert p.flush(30) == 0  # separate batches: the broker refuses whole batches
    p.produce(topic, value=b"small", on_delivery=lambda err, msg: reports.append(err))
    assert p.flush(30) == 0
    errors = [e for e in reports if e is not None]
    assert len(errors) == 1 and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, reports
    got = clients.consume_all(bootstrap, topic, expected=1)
    assert [m.value() for m in got] == [b"small"]


def test_admin_creates_lists_describes_grows_and_deletes_topics(bootstrap):
    a = clients.admin(bootstrap)
    topic = harness.unique_topic("admin")
    fs = a.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                   config={"retention.ms": "123456789"})], operation_timeout=30)
    fs[topic].result(30)
    clients.wait_for_topic(bootstrap, topic, 2)
    assert topic in a.list_topics(timeout=10).topics

    # Creating it again is refused with TOPIC_ALREADY_EXISTS.
    fs = a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)], operation_timeout=30)
    with pytest.raises(Exception) as info:
        fs[topic].result(30)
    err = info.value.args[0]
    assert (err.code(), err.str()) == (KafkaError.TOPIC_ALREADY_EXISTS, f"Topic '{topic}' already exists."), err

    (cfg_future,) = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    configs = cfg_future.result(30)
    assert configs["retention.ms"].value == "123456789"
    assert not configs["retention.ms"].is_default
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].is_default
    assert "max.message.bytes" in configs and "segment.bytes" in configs

    fs = a.create_partitions([NewPartitions(topic, 5)], operation_timeout=30)
    fs[topic].result(30)
    clients.wait_for_topic(bootstrap, topic, 5)
    # Shrinking is refused (INVALID_PARTITIONS).
    fs = a.create_partitions([NewPartitions(topic, 3)], operation_timeout=30)
    with pytest.raises(Exception) as info:
        fs[topic].result(30)
    err = info.value.args[0]
    assert err.code() == KafkaError.INVALID_PARTITIONS, err
    # Kafka: "The topic T currently has 5 partition(s); 3 would not be an increase."
    assert "currently has 5 partition" in err.str() and "3" in err.str(), err.str()

    fs = a.delete_topics([topic], operation_timeout=30)
    fs[topic].result(30)
    harness.wait_until(lambda: topic not in a.list_topics(timeout=10).topics, what=f"{topic} deleted")


def test_admin_refuses_invalid_topic_names(bootstrap):
    a = clients.admin(bootstrap)
    for bad in ["bad name", "a" * 250, "..", "x/y"]:
        fs = a.create_topics([NewTopic(bad, num_partitions=1, replication_factor=1)],
                             operation_timeout=30)
        with pytest.raises(Exception) as info:
            fs[bad].result(30)
        err = info.value.args[0]
        assert err.code() == KafkaError.TOPIC_EXCEPTION, (bad, err)
        # The message names the name, or for the long one the limit.
        assert (bad if len(bad) < 249 else "249") in err.str(), (bad, err.str())


def test_deleting_unknown_topic_is_refused(bootstrap):
    a = clients.admin(bootstrap)
    topic = harness.unique_topic("nope")
    fs = a.delete_topics([topic], operation_timeout=30)
    with pytest.raises(Exception) as info:
        fs[topic].result(30)
    err = info.value.args[0]
    # DeleteTopics carries no message for this error (Kafka sends none either): librdkafka's text.
    assert (err.code(), err.str()) == (KafkaError.UNKNOWN_TOPIC_OR_PART, "Broker: Unknown topic or partition"), err


def test_broker_config_can_be_described(bootstrap):
    a = clients.admin(bootstrap)
    md = a.list_topics(timeout=10)
    (broker_id,) = list(md.brokers)[:1]
    (fut,) = a.describe_configs([ConfigResource(ConfigResource.Type.BROKER, str(broker_id))]).values()
    configs = fut.result(30)
    assert "num.partitions" in configs
    assert "log.retention.hours" in configs or "log.retention.ms" in configs


def test_producing_to_unknown_topic_auto_creates_it(bootstrap):
    topic = harness.unique_topic("auto")
    delivered = clients.produce_all(bootstrap, topic, [{"value": b"hello"}])
    assert delivered[0].offset() == 0
    got = clients.consume_all(bootstrap, topic, expected=1)
    assert got[0].value() == b"hello"
