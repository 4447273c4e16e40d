"""Thin helpers over confluent-kafka (librdkafka) used by several test modules to set up topics and
read them back, so each test states only what it checks."""
from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

OP_TIMEOUT_S = 30


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    """Creates a topic and waits until its metadata shows every partition with a leader."""
    client = admin(bootstrap)  # must outlive the futures: destroying it fails them
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=OP_TIMEOUT_S, request_timeout=OP_TIMEOUT_S)
    futures[name].result(timeout=OP_TIMEOUT_S)
    wait_for_topic(bootstrap, name, partitions)


def wait_for_topic(bootstrap: str, name: str, partitions: int, timeout_s: float = 20) -> None:
    client = admin(bootstrap)
    deadline = time.monotonic() + timeout_s
    while True:
        md = client.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        if (t is not None and t.error is None and len(t.partitions) == partitions
                and all(p.leader >= 0 for p in t.partitions.values())):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {name} not ready with {partitions} partitions: {t and t.error}")
        time.sleep(0.2)


def producer(bootstrap: str, **conf) -> Producer:
    base = {"bootstrap.servers": bootstrap}
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Producer(base)


def consumer(bootstrap: str, **conf) -> Consumer:
    """An assign()-only consumer: no subscriptions, no commits."""
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": "itest-assign-only",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Consumer(base)


def produce_all(bootstrap: str, topic: str, messages: list[dict], **conf) -> list:
    """Produces each dict's fields as Producer.produce kwargs; returns delivered messages in order
    of the reports. Raises if any delivery failed."""
    p = producer(bootstrap, **conf)
    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg))

    for m in messages:
        p.produce(topic, on_delivery=on_delivery, **m)
        p.poll(0)
    remaining = p.flush(OP_TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages not delivered"
    errors = [err for err, _ in reports if err is not None]
    assert not errors, f"delivery errors: {errors}"
    return [msg for _, msg in reports]


def consume_all(bootstrap: str, topic: str, partitions: list[int] | int = 1, expected: int | None = None,
                timeout_s: float = 30, **conf) -> list:
    """Reads every partition from the beginning until each reports EOF (and, if given, at least
    `expected` messages arrived). Returns messages in arrival order."""
    if isinstance(partitions, int):
        partitions = list(range(partitions))
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, p, 0) for p in partitions])
        out = []
        at_eof: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191:  # _PARTITION_EOF
                    at_eof.add(msg.partition())
                    if len(at_eof) == len(partitions) and (expected is None or len(out) >= expected):
                        return out
                    continue
                raise KafkaException(msg.error())
            at_eof.discard(msg.partition())
            out.append(msg)
        raise AssertionError(f"consumed {len(out)} messages from {topic} (expected {expected}), "
                             f"EOF on {sorted(at_eof)} of {partitions} before timeout")
    finally:
        c.close()
