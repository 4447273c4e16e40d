"""Deleting the coordinators' internal topics, as an admin can in Kafka (DeleteTopics on
__consumer_offsets or __transaction_state succeeds there): the committed state goes with the topic,
and the next FindCoordinator creates it again, so groups and transactional producers keep working.
Its own module, so the deletion does not touch the groups of other modules' tests."""
from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition

import clients
import harness


def delete_and_wait_gone(bootstrap: str, topic: str) -> None:
    admin = clients.admin(bootstrap)
    futures = admin.delete_topics([topic], operation_timeout=30, request_timeout=30)
    assert futures[topic].result(timeout=30) is None  # no error: Kafka allows it

    def gone():
        return topic not in admin.list_topics(timeout=10).topics
    harness.wait_until(gone, timeout_s=60, what=f"{topic} deleted")


def consume_and_commit(bootstrap: str, topic: str, group: str, expected: int) -> None:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        got = []

        def all_read():
            got.extend(m for m in c.consume(10, timeout=0.5) if m.error() is None)
            return len(got) >= expected
        harness.wait_until(all_read, timeout_s=90, interval_s=0, what=f"{expected} records read by {group}")
        c.commit(asynchronous=False)
    finally:
        c.close()


def committed_offset(bootstrap: str, topic: str, group: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return c.committed([TopicPartition(topic, 0)], timeout=60)[0].offset
    finally:
        c.close()


def test_consumer_offsets_deleted_by_an_admin_comes_back_and_groups_work_again(bootstrap):
    topic = harness.unique_topic("int-offsets")
    clients.create_topic(bootstrap, topic)
    clients.produce_all(bootstrap, topic, [{"value": f"a{i}".encode()} for i in range(5)])
    before = harness.unique_topic("g-before")
    consume_and_commit(bootstrap, topic, before, 5)
    assert committed_offset(bootstrap, topic, before) == 5

    delete_and_wait_gone(bootstrap, "__consumer_offsets")

    # A new group finds a coordinator again (the topic is created anew) and commits.
    after = harness.unique_topic("g-after")
    consume_and_commit(bootstrap, topic, after, 5)
    assert committed_offset(bootstrap, topic, after) == 5
    assert "__consumer_offsets" in clients.admin(bootstrap).list_topics(timeout=10).topics
    # The first group's commit went with the deleted topic.
    assert committed_offset(bootstrap, topic, before) < 0


def test_transaction_state_deleted_by_an_admin_comes_back_and_transactions_work_again(bootstrap):
    topic = harness.unique_topic("int-txn")
    clients.create_topic(bootstrap, topic)

    def transact(value: bytes) -> None:
        p = Producer({"bootstrap.servers": bootstrap, "transactional.id": harness.unique_topic("int-txn-id")})
        p.init_transactions(60)
        p.begin_transaction()
        p.produce(topic, value=value)
        p.commit_transaction(60)

    transact(b"before")
    delete_and_wait_gone(bootstrap, "__transaction_state")
    transact(b"after")
    assert "__transaction_state" in clients.admin(bootstrap).list_topics(timeout=10).topics
    values = [m.value() for m in clients.consume_all(bootstrap, topic, expected=2,
                                                      isolation_level="read_committed")]
    assert values == [b"before", b"after"]
