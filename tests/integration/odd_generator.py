"""Random, valid-but-odd Kafka requests generated from the schemas (schema_codec): every value is
legal on the wire for the field's type and version, and chosen at the edges: empty and huge arrays
(bounded by a byte budget so a frame stays within a few MiB), null wherever the version allows it,
empty strings, long and multi-byte strings, minimum and maximum integers, NaN and infinities, zero
and all-ones uuids, unknown tagged fields in every flexible struct and in the request header,
record batches that are valid (CRC-32C), empty, or hold no record.

Names are drawn from small pools made from the seed (legal topic names up to 249 characters, group
and transactional ids), so the requests meet each other's state (a Produce to a topic a CreateTopics
made, a JoinGroup of a group another request joined) while the number of topics and groups a long run
can create stays bounded.

Every request is a function of (seed, stream, index) only: `python3 odd_generator.py --seed S
--stream C --index I --api K --version V [--send host:port]` prints (and sends) that request again.

The fields that make a broker wait (Fetch's MaxWaitMs, a group's session and rebalance timeouts)
take small values only (-1 to 1500 ms): a broker that long-polls for 2^31-1 ms is right to, and the
test bounds the wait for each response.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import re
import string
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kafka_wire  # noqa: E402
import schema_codec  # noqa: E402
from schema_codec import UNKNOWN_TAGS, field_spec, message_spec  # noqa: E402

FRAME_BUDGET_BYTES = 3 * 1024 * 1024  # a big request's generated values stay about within this
SMALL_BUDGET_BYTES = 48 * 1024  # the others'
BIG_REQUEST_SHARE = 0.1  # requests allowed huge arrays and large bytes
HUGE_PRIMITIVE_ARRAY_MAX = 50_000
HUGE_STRUCT_ARRAY_MAX = 5_000
TOPIC_NAME_CHARS = string.ascii_letters + string.digits + "._-"
WAIT_FIELD = re.compile(r"(MaxWait|Rebalance\w*|Session\w*)Ms$")
PARTITION_FIELD = re.compile(r"^(Partition\w*|Index|Partitions)$")

INT_LIMITS = {"int8": (-(1 << 7), (1 << 7) - 1), "int16": (-(1 << 15), (1 << 15) - 1),
              "int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
              "uint16": (0, (1 << 16) - 1), "uint32": (0, (1 << 32) - 1)}

# Topic-level configs worth setting to odd values on the pool's topics (AlterConfigs,
# IncrementalAlterConfigs, CreateTopics); broker-level ones are left alone (they would change the
# broker under the rest of the run), random names cover the rest.
TOPIC_CONFIGS = ["retention.ms", "retention.bytes", "segment.bytes", "segment.ms", "cleanup.policy",
                 "max.message.bytes", "min.insync.replicas", "message.timestamp.type", "compression.type",
                 "message.timestamp.before.max.ms", "delete.retention.ms"]
ODD_CONFIG_VALUES = ["", "-1", "0", "1", "9223372036854775807", "-9223372036854775808", "2147483648", "abc",
                     "compact", "delete", "compact,delete", "zstd", "LogAppendTime", "1e3", " 7 "]


def topic_name_pool(rng: random.Random) -> list[str]:
    """Legal topic names ([a-zA-Z0-9._-], 1-249 chars, not "." or ".."), odd ones first."""
    # Not __consumer_offsets nor __transaction_state by default: a client may delete them and
    # create them again with any partition count and configs (Kafka allows both), and an offsets
    # topic created with e.g. retention.ms=0 legitimately loses the final check's group commit, on
    # Kafka too. GREGOR_ODD_INTERNAL_TOPICS=1 includes them (the broker re-creates a deleted one
    # on the next FindCoordinator, test_internal_topics.py; this test found that it did not).
    names = ["a", "_", "-", "...", "-.-", "x" * 249, "Z" * 200 + "." * 49, "odd.topic", "odd_topic"]
    if os.environ.get("GREGOR_ODD_INTERNAL_TOPICS") == "1":
        names += ["__consumer_offsets", "__transaction_state"]
    while len(names) < 32:
        n = rng.choice([1, 2, 5, 12, 40, 249])
        name = "".join(rng.choice(TOPIC_NAME_CHARS) for _ in range(n))
        if name not in (".", ".."):
            names.append(name)
    return names


class generator:
    """Generates request bodies for one (seed): `request(stream, index, api_key, version)`."""

    def __init__(self, seed: int, schemas: schema_codec.schema_set, budget_bytes: int = FRAME_BUDGET_BYTES):
        self.seed = seed
        self.schemas = schemas
        self.budget_bytes = budget_bytes
        pools = random.Random(seed)
        self.topics = topic_name_pool(pools)
        self.groups = ["", "g", "odd-group", "🦀-group", "x" * 1000] + [f"grp-{pools.getrandbits(32):08x}" for _ in range(7)]
        self.txn_ids = ["t", "odd-txn", "x" * 500] + [f"txn-{pools.getrandbits(32):08x}" for _ in range(5)]
        self.uuids = [bytes(16), b"\xff" * 16] + [pools.randbytes(16) for _ in range(4)]
        self.known_topic_ids: list[bytes] = []  # learned from the broker by the caller (not from the seed)
        self.rng = random.Random(0)
        self.remaining = 0
        self.big = False

    # -- one request

    def request(self, stream: int, index: int, api_key: int, version: int) -> dict:
        """{"body", "client_id", "header_tags"} for that request, a function of the arguments."""
        self.rng = random.Random(f"{self.seed}/{stream}/{index}/{api_key}/{version}")
        self.big = self.rng.random() < BIG_REQUEST_SHARE
        self.remaining = self.budget_bytes if self.big else min(self.budget_bytes, SMALL_BUDGET_BYTES)
        msg = self.schemas.request(api_key)
        flexible = msg.is_flexible(version)
        body = self.struct(msg, msg.fields, version, flexible, path=msg.name)
        return {"body": body, "client_id": self.client_id(), "header_tags": self.unknown_tags([]) if flexible else []}

    def client_id(self):
        r = self.rng.random()
        if r < 0.1:
            return None
        if r < 0.2:
            return ""
        if r < 0.25:
            return "ü€😀" * self.rng.choice([1, 100])
        if r < 0.28:
            return "c" * self.rng.choice([255, 4096, 32767])
        return f"odd-load-{self.rng.getrandbits(16)}"

    def unknown_tags(self, known: list[int]) -> list[tuple[int, bytes]]:
        if self.rng.random() > 0.25:
            return []
        tags: dict[int, bytes] = {}
        top = max(known, default=-1)
        for _ in range(self.rng.choice([1, 1, 2, 3])):
            tag = self.rng.choice([top + 1, top + 2, self.rng.randint(top + 1, 10_000), (1 << 31) - 1,
                                   self.rng.randint(top + 1, (1 << 31) - 1)])
            size = self.rng.choice([0, 1, 8, 100, 4096])
            tags[tag] = self.take_bytes(size)
        return sorted(tags.items())

    def take_bytes(self, size: int) -> bytes:
        size = max(0, min(size, self.remaining))
        self.remaining -= size
        return self.rng.randbytes(size)

    # -- structs and fields

    def struct(self, msg: message_spec, fields: list[field_spec], version: int, flexible: bool, path: str) -> dict:
        value: dict = {}
        known_tags = []
        for f in fields:
            if not f.present(version):
                continue
            if f.is_tagged(version):
                known_tags.append(f.tag)
                if self.rng.random() < 0.5:
                    continue  # a tagged field may be left out
            value[f.name] = self.field(msg, f, version, flexible, f"{path}.{f.name}")
        if flexible:
            unknown = self.unknown_tags(known_tags)
            unknown = [(t, d) for t, d in unknown if t not in known_tags]
            if unknown:
                value[UNKNOWN_TAGS] = unknown
        self.remaining -= 1
        return value

    def field(self, msg: message_spec, f: field_spec, version: int, flexible: bool, path: str):
        if f.is_nullable(version) and self.rng.random() < 0.15:
            return None
        if f.is_array:
            return self.array(msg, f, version, flexible, path)
        if f.is_struct:
            return self.struct(msg, f.fields, version, flexible, path)
        return self.primitive(msg, f, f.type, version)

    def array(self, msg: message_spec, f: field_spec, version: int, flexible: bool, path: str) -> list:
        r = self.rng.random()
        if self.remaining <= 0 or r < 0.2:
            count = 0
        elif r < 0.55:
            count = 1
        elif r < 0.9 or not self.big:
            count = self.rng.randint(2, 6)
        else:
            count = self.rng.randint(100, HUGE_STRUCT_ARRAY_MAX if f.is_struct else HUGE_PRIMITIVE_ARRAY_MAX)
        out = []
        if count > 50 and not f.is_struct:
            # A huge array of one primitive repeated or varied: cheap to build.
            variety = [self.primitive(msg, f, f.element_type, version) for _ in range(8)]
            for _ in range(count):
                if self.remaining <= 0:
                    break
                item = self.rng.choice(variety)
                self.remaining -= self.approx_size(item)
                out.append(item)
            return out
        for _ in range(count):
            if self.remaining <= 0:
                break
            if f.is_struct:
                out.append(self.struct(msg, f.fields, version, flexible, path))
            else:
                out.append(self.primitive(msg, f, f.element_type, version))
        return out

    @staticmethod
    def approx_size(item) -> int:
        if isinstance(item, str):
            return len(item.encode()) + 2
        if isinstance(item, bytes):
            return len(item) + 2
        return 8

    def primitive(self, msg: message_spec, f: field_spec, type_: str, version: int):
        rng = self.rng
        if type_ in INT_LIMITS or type_ in ("float64", "bool", "uuid"):
            self.remaining -= 16 if type_ == "uuid" else 8
        if type_ in INT_LIMITS:
            return self.integer(f, type_)
        if type_ == "float64":
            return rng.choice([0.0, -0.0, 1.0, -1.0, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan,
                               rng.uniform(-1e9, 1e9)])
        if type_ == "bool":
            return rng.random() < 0.5
        if type_ == "uuid":
            if self.known_topic_ids and rng.random() < 0.5:
                return rng.choice(self.known_topic_ids)
            return rng.choice(self.uuids) if rng.random() < 0.7 else rng.randbytes(16)
        if type_ == "string":
            value = self.string(f)
            self.remaining -= len(value.encode()) + 2
            return value
        if type_ == "bytes":
            return self.take_bytes(rng.choice([0, 0, 1, 16, 200, 4096, 65536]))
        if type_ == "records":
            value = self.records()
            self.remaining -= len(value)
            return value
        raise ValueError(f"no generator for {type_}")

    def integer(self, f: field_spec, type_: str) -> int:
        rng = self.rng
        lo, hi = INT_LIMITS[type_]
        if WAIT_FIELD.search(f.name):
            return rng.choice([-1, 0, 1, 10, 500, 1500])
        if f.entity_type == "brokerId":
            return rng.choice([-1, 0, 1, 2, hi])
        if PARTITION_FIELD.match(f.name) and rng.random() < 0.6:
            return rng.choice([0, 0, 1, 2, 3])
        r = rng.random()
        if r < 0.15:
            return lo
        if r < 0.3:
            return hi
        if r < 0.45:
            return max(lo, -1)
        if r < 0.65:
            return 0
        if r < 0.8:
            return min(hi, rng.randint(1, 10))
        return rng.randint(lo, hi)

    def string(self, f: field_spec) -> str:
        rng = self.rng
        if rng.random() < 0.1:
            return ""
        if f.entity_type == "topicName":
            return rng.choice(self.topics)
        if f.entity_type == "groupId":
            return rng.choice(self.groups)
        if f.entity_type == "transactionalId":
            return rng.choice(self.txn_ids)
        if f.name in ("Name", "ResourceName", "ConfigName", "Key") and rng.random() < 0.4:
            return rng.choice(TOPIC_CONFIGS + self.topics[:4])
        if f.name in ("Value", "ConfigValue") and rng.random() < 0.6:
            return rng.choice(ODD_CONFIG_VALUES)
        r = rng.random()
        if r < 0.35:
            return rng.choice(["x", "0", "-1", "odd", "consumer", "range", "PLAIN", "*", ".*", "[", "User:*",
                               "uniform"])
        if r < 0.55:
            return "ü€😀" * rng.randint(1, 30)
        if r < 0.65:
            return "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 64)))
        if r < 0.7:
            return "s" * rng.choice([249, 250, 4096, 32767])
        return f"odd-{rng.getrandbits(32):08x}"

    # -- record batches

    def records(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            return b""
        if r < 0.22:
            return self.batch(0)  # a batch holding no record
        batches = [self.batch(rng.choice([1, 1, 2, 5, 50])) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        return b"".join(batches)

    def batch(self, count: int) -> bytes:
        rng = self.rng
        records = b""
        for i in range(count):
            key = rng.choice([None, b"", b"k", self.take_bytes(64)])
            value = rng.choice([None, b"", b"v", self.take_bytes(rng.choice([10, 1000, 100_000]))])
            records += kafka_wire.encode_record(i, key, value)
        now_ms = int(time.time() * 1000)
        return kafka_wire.record_batch(records, count, timestamp_ms=rng.choice([now_ms, now_ms, 0, -1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--stream", type=int, required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--api", type=int, required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--correlation-id", type=int, default=1)
    parser.add_argument("--send", metavar="HOST:PORT")
    args = parser.parse_args()
    schemas = schema_codec.schema_set()
    gen = generator(args.seed, schemas)
    req = gen.request(args.stream, args.index, args.api, args.version)
    frame = schema_codec.encode_request(schemas.request(args.api), args.version, args.correlation_id, req["body"],
                                        client_id=req["client_id"], header_tags=req["header_tags"])
    print(f"{schemas.names[args.api]} v{args.version}: {len(frame)} bytes")
    print(repr(req)[:4000])
    if args.send:
        with kafka_wire.connect(args.send, timeout_s=30) as sock:
            sock.sendall(frame)
            body = kafka_wire.read_response(sock)
            print("closed by the broker" if body is None else f"response: {len(body)} bytes, correlation id "
                  f"{struct.unpack_from('>i', body)[0]}")


if __name__ == "__main__":
    main()
