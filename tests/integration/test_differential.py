"""The differential check (issue 15, item 6; differential.py): the same requests to Apache Kafka 4.3.1
and to Gregor, the responses compared field by field; every difference not listed and justified in
differential_accepted.txt fails. The check itself (two brokers, ~50 s) runs only when asked:
GREGOR_DIFFERENTIAL=1 (`make differential`); GREGOR_DIFFERENTIAL_KAFKA=host:port uses a running,
fresh Kafka instead of starting one. The tests of its parts (the response decoder against the
captured frames, the comparison, the accepted file) need no broker and always run.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

import differential
import harness
import kafka_wire
import schema_codec

ENABLED = os.environ.get("GREGOR_DIFFERENTIAL") == "1"


@pytest.fixture(scope="module")
def schemas() -> schema_codec.schema_set:
    return schema_codec.schema_set()


# ---- the parts, without a broker

def test_decoder_reads_every_captured_frame_and_reencodes_the_requests_byte_for_byte(schemas):
    """Each captured request decodes and encodes back to the same bytes; each captured response
    decodes with nothing left over (the decoder mirrors the encoder, tagged fields included)."""
    decoded = 0
    for line in differential.CAPTURES_PATH.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        _label, key, version, req_hex, resp_hex = line.split()
        key, version = int(key), int(version)
        if version not in schemas.request(key).valid:
            continue  # a newer client version than the jar's (Kafka answered UNSUPPORTED_VERSION)
        payload = bytes.fromhex(req_hex)
        api_key, ver, correlation_id, client_id, body = schema_codec.decode_request(schemas, payload)
        assert schema_codec.encode_request(schemas.request(api_key), ver, correlation_id, body,
                                           client_id=client_id)[4:] == payload
        if resp_hex != "-":
            resp = bytes.fromhex(resp_hex)
            msg = schemas.response(key)
            _, pos = schema_codec.decode_response_header(resp, key, version, msg.is_flexible(version))
            schema_codec.decode_body(msg, version, resp, pos)
        decoded += 1
    assert decoded >= 100


def test_decoder_refuses_truncated_bodies_and_lengths_past_the_end(schemas):
    metadata_v1 = struct.pack(">i", 1000) + b"\x00" * 64  # 1000 brokers claimed, 64 bytes follow
    with pytest.raises(schema_codec.decode_error, match="1000 elements claimed"):
        schema_codec.decode_body(schemas.response(3), 1, metadata_v1)
    with pytest.raises(schema_codec.decode_error, match="wanted"):
        schema_codec.decode_body(schemas.response(18), 0, b"\x00")  # ApiVersions v0: half an error code
    with pytest.raises(schema_codec.decode_error, match="left over"):
        schema_codec.decode_body(schemas.response(18), 0, b"\x00\x00" + b"\x00" * 4 + b"\x07")


def test_typical_requests_encode_at_every_version_of_every_api(schemas):
    """Every typical request names only fields its API has and encodes at every version."""
    for key, msg in schemas.requests.items():
        for version in range(msg.valid.lo, msg.valid.hi + 1):
            for partial in differential.typical_requests(key, version):
                body = differential.complete(msg.fields, version, partial)
                schema_codec.encode_request(msg, version, 1, differential.resolve(body, differential.no_topic_ids))


def test_scenario_producer_batches_decode_with_their_producer_and_sequence():
    import differential_scenarios
    data = differential_scenarios.producer_batch([(b"k", b"v"), (b"k2", None)], 42, 3, 7, transactional=True)
    (batch,) = differential.decode_batches(data)
    assert batch["ProducerId"] == "PID" and batch["ProducerEpoch"] == 3 and batch["BaseSequence"] == 7
    assert batch["Attributes"] == 0x10 and batch["Count"] == 2 and batch["LastOffsetDelta"] == 1
    assert [r["Key"] for r in batch["Records"]] == [b"k", b"k2"] and batch["Records"][1]["Value"] is None
    assert kafka_wire.crc32c(data[21:]) == struct.unpack_from(">I", data, 17)[0]


def test_comparison_names_each_differing_field_and_keys_arrays_by_their_names():
    gregor = {"Topics": [{"Name": "b", "ErrorCode": 0}, {"Name": "a", "ErrorCode": 3, "Extra": 1}]}
    kafka = {"Topics": [{"Name": "a", "ErrorCode": 0}, {"Name": "b", "ErrorCode": 0}, {"Name": "c", "ErrorCode": 0}]}
    diffs = []
    differential.compare(gregor, kafka, "", diffs)
    assert sorted(d[0] for d in diffs) == [".Topics[Name=a].ErrorCode", ".Topics[Name=a].Extra", ".Topics[Name=c]"]
    same = []
    differential.compare({"X": [1, 2], "F": float("nan")}, {"X": [1, 2], "F": float("nan")}, "", same)
    assert same == []


def test_normalisation_keeps_fixed_timestamps_and_replaces_the_clock_and_ids():
    conn = differential.no_topic_ids
    now_ms = int(differential.time.time() * 1000)
    out = differential.normalise({"ThrottleTimeMs": 7, "LogAppendTimeMs": now_ms, "Timestamp": 1_600_000_000_000,
                                  "ProducerId": 4000, "MemberId": "m-1", "Port": 9092, "ErrorCode": 3}, conn)
    assert out == {"ThrottleTimeMs": 0, "LogAppendTimeMs": "NOW", "Timestamp": 1_600_000_000_000,
                   "ProducerId": "PID", "MemberId": "MEMBER", "Port": "PORT", "ErrorCode": 3}


def test_accepted_file_parses_and_an_unlisted_difference_fails_while_an_unmatched_entry_is_stale(tmp_path):
    entries = differential.load_accepted()
    assert entries and all(e.why for e in entries)
    accepted = tmp_path / "accepted.txt"
    accepted.write_text("Metadata 1-3 Topics[Name=a].ErrorCode :: why\n# open bugs\nFetch * X :: a bug\n")
    res = differential.result(differences=[("Metadata", 2, "t", "Topics[Name=a].ErrorCode", 0, 3),
                                           ("Metadata", 4, "t", "Topics[Name=a].ErrorCode", 0, 3)])
    differential.judge(res, differential.load_accepted(accepted))
    assert [d[1] for d in res.unaccepted] == [4]
    assert [e.pattern for e in res.stale] == ["X"]
    assert not differential.passed(res)


def test_accepted_patterns_star_stays_within_brackets_double_star_crosses_them():
    def matches(pattern, path):
        return differential.re.fullmatch(differential.pattern_regex(pattern), path) is not None
    assert matches("Topics[Name=*].Configs", "Topics[Name=log.a-b].Configs")
    assert not matches("Configs[Name=*]", "Configs[Name=listeners].Synonyms[0]")
    assert matches("**ErrorMessage", "Topics[Name=a].Partitions[PartitionIndex=0].ErrorMessage")
    assert matches("ApiKeys[ApiKey=7?]", "ApiKeys[ApiKey=76]") and not matches("ApiKeys[ApiKey=7?]", "ApiKeys[ApiKey=7]")


# ---- the check

@pytest.mark.differential
@pytest.mark.gregor_only
@pytest.mark.timeout(900)
@pytest.mark.skipif(not ENABLED, reason="differential: needs GREGOR_DIFFERENTIAL=1 (make differential; "
                                        "starts Apache Kafka 4.3.1 beside Gregor)")
def test_gregor_answers_like_kafka_but_for_the_accepted_differences(tmp_path):
    gregor = harness.gregor_process(tmp_path / "gregor", extra_sets=differential.GREGOR_SETS).start()
    kafka_dir = None
    try:
        kafka = os.environ.get("GREGOR_DIFFERENTIAL_KAFKA")
        if not kafka:
            kafka, kafka_dir = differential.start_kafka(Path(tmp_path) / "kafka")
        res = differential.run(gregor.bootstrap, kafka)
    finally:
        gregor.stop()
        if kafka_dir is not None:
            differential.stop_kafka(kafka_dir)
    report = differential.report(res, schema_codec.schema_set())
    assert differential.passed(res), report
    assert len(res.pairs) >= 200 and res.captured_sent >= 100 and res.scenario_sent >= 180, report


# ---- Kafka's answers the scenarios found Gregor giving otherwise (fixed), on the suite's broker
# (Gregor, or Kafka itself with KAFKA_BOOTSTRAP)

def test_answers_the_differential_scenarios_pinned_down(bootstrap, schemas):
    import differential_scenarios as ds
    conn = differential.connection("broker", bootstrap, schemas)

    def ask(api, version, partial, done=lambda r: True, timeout_s=30.0):
        deadline = differential.time.monotonic() + timeout_s
        while True:
            resp = conn.request(api, version, differential.complete(schemas.request(api).fields, version, partial))
            if isinstance(resp, dict) and done(resp):
                return resp
            assert differential.time.monotonic() < deadline, resp
            differential.time.sleep(0.1)
    topic, group, txn = "pinned-topic", "pinned-group", "pinned-txn"
    ask(19, 5, {"Topics": [{"Name": topic, "NumPartitions": 1, "ReplicationFactor": 1, "Assignments": [],
                            "Configs": []}], "TimeoutMs": 30_000},
        lambda r: r["Topics"][0]["ErrorCode"] in (0, 36))
    ask(2, 7, {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [{"Name": topic, "Partitions": [
        {"PartitionIndex": 0, "CurrentLeaderEpoch": -1, "Timestamp": -1}]}]},
        lambda r: r["Topics"][0]["Partitions"][0]["ErrorCode"] == 0)
    # ConsumerGroupHeartbeat: an error answers nothing else; a member without a regex is described with "".
    ask(10, 3, {"Key": group, "KeyType": 0}, lambda r: r["ErrorCode"] == 0)
    heartbeat = {"GroupId": group, "MemberId": "", "MemberEpoch": 0, "InstanceId": None, "RackId": None,
                 "RebalanceTimeoutMs": 10_000, "SubscribedTopicNames": [topic], "ServerAssignor": None,
                 "TopicPartitions": []}
    joined = ask(68, 0, heartbeat, lambda r: r["ErrorCode"] == 0)
    fenced = ask(68, 0, {**heartbeat, "MemberId": joined["MemberId"], "MemberEpoch": joined["MemberEpoch"] + 10,
                         "SubscribedTopicNames": None, "RebalanceTimeoutMs": -1, "TopicPartitions": None})
    assert (fenced["ErrorCode"], fenced["MemberId"], fenced["MemberEpoch"], fenced["HeartbeatIntervalMs"],
            fenced["Assignment"]) == (110, None, 0, 0, None), fenced
    described = ask(69, 0, {"GroupIds": [group], "IncludeAuthorizedOperations": False})
    assert described["Groups"][0]["Members"][0]["SubscribedTopicRegex"] == "", described
    # Produce: a retried batch is answered with its first offset and, as LogAppendTimeMs, its max timestamp.
    init = ask(22, 4, {"TransactionalId": None, "TransactionTimeoutMs": 60_000, "ProducerId": -1, "ProducerEpoch": -1},
               lambda r: r["ErrorCode"] == 0)
    records = ds.producer_batch([(b"a", b"1"), (b"b", b"2")], init["ProducerId"], init["ProducerEpoch"], 0)
    produce = {"TransactionalId": None, "Acks": -1, "TimeoutMs": 10_000,
               "TopicData": [{"Name": topic, "PartitionData": [{"Index": 0, "Records": records}]}]}
    first = ask(0, 9, produce)["Responses"][0]["PartitionResponses"][0]
    retry = ask(0, 9, produce)["Responses"][0]["PartitionResponses"][0]
    assert first["ErrorCode"] == 0 and first["LogAppendTimeMs"] == -1, first
    assert (retry["ErrorCode"], retry["BaseOffset"], retry["LogAppendTimeMs"]) == \
        (0, first["BaseOffset"], 1_600_000_000_001), retry
    # A transactional batch of an epoch the coordinator never gave: refused before the log, LogStartOffset -1.
    ask(10, 3, {"Key": txn, "KeyType": 1}, lambda r: r["ErrorCode"] == 0)
    t = ask(22, 4, {"TransactionalId": txn, "TransactionTimeoutMs": 60_000, "ProducerId": -1, "ProducerEpoch": -1},
            lambda r: r["ErrorCode"] == 0)
    added = ask(24, 3, {"V3AndBelowTransactionalId": txn, "V3AndBelowProducerId": t["ProducerId"],
                        "V3AndBelowProducerEpoch": t["ProducerEpoch"],
                        "V3AndBelowTopics": [{"Name": topic, "Partitions": [0]}]})
    assert added["ResultsByTopicV3AndBelow"][0]["ResultsByPartition"][0]["PartitionErrorCode"] == 0, added
    wrong = ds.producer_batch([(b"t", b"x")], t["ProducerId"], t["ProducerEpoch"] + 3, 0, transactional=True)
    refused = ask(0, 9, {**produce, "TransactionalId": txn, "TopicData": [
        {"Name": topic, "PartitionData": [{"Index": 0, "Records": wrong}]}]})["Responses"][0]["PartitionResponses"][0]
    assert (refused["ErrorCode"], refused["BaseOffset"], refused["LogStartOffset"]) == (47, -1, -1), refused
    conn.close()
