"""Proves KIP-227 incremental fetch sessions are served as Apache Kafka serves them, with hand-built
Fetch v11 requests: a full fetch with session id 0 and epoch 0 opens a session and answers every
partition; incremental fetches (id, epoch 1, 2, ...) carry only changed partitions and are answered
only with partitions that have something new; a wrong epoch gets INVALID_FETCH_SESSION_EPOCH, an
unknown id FETCH_SESSION_ID_NOT_FOUND, and epoch -1 closes the session.
Runs unchanged against a real Kafka (KAFKA_BOOTSTRAP)."""
from __future__ import annotations

import uuid

import clients
import kafka_wire as kw

FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71


def fetch(bootstrap: str, sock, corr: int, **kwargs) -> dict:
    sock.sendall(kw.fetch_request_v11(corr, **kwargs))
    body = kw.read_response(sock)
    assert body is not None, "connection closed"
    return kw.parse_fetch_v11(body)


def test_incremental_fetch_session_answers_only_changed_partitions(bootstrap):
    topic = f"sessions-{uuid.uuid4().hex[:8]}"
    clients.create_topic(bootstrap, topic, partitions=3)
    clients.produce_all(bootstrap, topic, [{"value": b"p0-%d" % i, "partition": 0} for i in range(3)] +
                        [{"value": b"p1-%d" % i, "partition": 1} for i in range(2)])
    with kw.connect(bootstrap) as sock:
        # Full fetch opening a session: every partition is answered.
        full = fetch(bootstrap, sock, 1, topics={topic: {0: 0, 1: 0, 2: 0}}, session_id=0, session_epoch=0)
        assert full["error_code"] == 0
        session = full["session_id"]
        assert session != 0
        parts = full["partitions"]
        assert set(parts) == {(topic, 0), (topic, 1), (topic, 2)}
        assert parts[(topic, 0)]["high_watermark"] == 3
        assert parts[(topic, 1)]["high_watermark"] == 2
        assert sum(n for _, n in parts[(topic, 0)]["batches"]) == 3
        assert sum(n for _, n in parts[(topic, 1)]["batches"]) == 2
        assert parts[(topic, 2)]["batches"] == []

        # Incremental: partitions 0 and 1 moved to their ends, 2 unchanged (not sent). Nothing is
        # new anywhere, so the answer (after max_wait) carries no partition at all.
        quiet = fetch(bootstrap, sock, 2, topics={topic: {0: 3, 1: 2}}, session_id=session, session_epoch=1,
                      max_wait_ms=200)
        assert quiet["error_code"] == 0
        assert quiet["session_id"] == session
        assert quiet["partitions"] == {}

        # New records on partition 2 only: an incremental fetch naming no partition gets just it.
        clients.produce_all(bootstrap, topic, [{"value": b"p2-0", "partition": 2}])
        news = fetch(bootstrap, sock, 3, topics={}, session_id=session, session_epoch=2, max_wait_ms=5000)
        assert news["error_code"] == 0
        assert news["session_id"] == session
        assert set(news["partitions"]) == {(topic, 2)}
        assert news["partitions"][(topic, 2)]["high_watermark"] == 1
        assert news["partitions"][(topic, 2)]["batches"] == [(0, 1)]

        # A forgotten partition is no longer read: new records on it are not answered.
        clients.produce_all(bootstrap, topic, [{"value": b"p0-x", "partition": 0}])
        forgot = fetch(bootstrap, sock, 4, topics={topic: {2: 1}}, forgotten={topic: [0]}, session_id=session,
                       session_epoch=3, max_wait_ms=200)
        assert forgot["error_code"] == 0
        assert (topic, 0) not in forgot["partitions"]

        # Wrong epoch (the next one is 4) and an unknown id are session errors without partitions.
        stale = fetch(bootstrap, sock, 5, topics={}, session_id=session, session_epoch=7)
        assert stale["error_code"] == INVALID_FETCH_SESSION_EPOCH
        assert stale["partitions"] == {}
        other = session + 1 if session < 2**31 - 1 else 1
        unknown = fetch(bootstrap, sock, 6, topics={}, session_id=other, session_epoch=1)
        assert unknown["error_code"] == FETCH_SESSION_ID_NOT_FOUND

        # The session survived the errors; epoch -1 closes it (a sessionless, full answer).
        still = fetch(bootstrap, sock, 7, topics={}, session_id=session, session_epoch=4, max_wait_ms=0)
        assert still["error_code"] == 0 and still["session_id"] == session
        closing = fetch(bootstrap, sock, 8, topics={topic: {1: 0}}, session_id=session, session_epoch=-1)
        assert closing["error_code"] == 0
        assert closing["session_id"] == 0
        assert sum(n for _, n in closing["partitions"][(topic, 1)]["batches"]) == 2
        gone = fetch(bootstrap, sock, 9, topics={}, session_id=session, session_epoch=5)
        assert gone["error_code"] == FETCH_SESSION_ID_NOT_FOUND


def test_sessionless_fetch_gets_session_id_zero(bootstrap):
    topic = f"sessionless-{uuid.uuid4().hex[:8]}"
    clients.create_topic(bootstrap, topic, partitions=1)
    clients.produce_all(bootstrap, topic, [{"value": b"x"}])
    with kw.connect(bootstrap) as sock:
        out = fetch(bootstrap, sock, 1, topics={topic: {0: 0}}, session_id=0, session_epoch=-1)
        assert out["error_code"] == 0
        assert out["session_id"] == 0
        assert out["partitions"][(topic, 0)]["batches"] == [(0, 1)]
