"""Hand-built Kafka wire frames for tests that must control every byte (readiness probes, hostile
input, pipelining). Only the few request shapes the suite needs; no client library involved.

Framing: int32 size, then request header v1 (api_key int16, api_version int16, correlation_id int32,
client_id nullable string) or v2 (v1 + empty tagged fields) for flexible versions. ApiVersions
responses always use response header v0 (correlation_id only), whatever the request version.
"""
from __future__ import annotations

import socket
import struct
import time

API_PRODUCE = 0
API_FETCH = 1
API_METADATA = 3
API_VERSIONS = 18
API_CREATE_TOPICS = 19

# Batch attributes: compression codec (bits 0-2).
CODEC_NONE, CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD = 0, 1, 2, 3, 4


def encode_string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    raw = s.encode()
    return struct.pack(">h", len(raw)) + raw


def encode_uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_compact_string(s: str) -> bytes:
    raw = s.encode()
    return encode_uvarint(len(raw) + 1) + raw


def request(api_key: int, api_version: int, correlation_id: int, body: bytes = b"",
            client_id: str | None = "gregor-itest", flexible: bool = False) -> bytes:
    """A complete size-prefixed request frame."""
    header = struct.pack(">hhi", api_key, api_version, correlation_id) + encode_string(client_id)
    if flexible:
        header += b"\x00"  # no tagged fields
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def api_versions_request(correlation_id: int, version: int = 0) -> bytes:
    if version >= 3:
        body = encode_compact_string("gregor-itest") + encode_compact_string("1.0") + b"\x00"
        return request(API_VERSIONS, version, correlation_id, body, flexible=True)
    return request(API_VERSIONS, version, correlation_id)


def metadata_request_v1(correlation_id: int, topics: list[str] | None = None) -> bytes:
    """Metadata v1; topics=None asks for every topic."""
    if topics is None:
        body = struct.pack(">i", -1)
    else:
        body = struct.pack(">i", len(topics)) + b"".join(encode_string(t) for t in topics)
    return request(API_METADATA, 1, correlation_id, body)


class reader:
    """Cursor over a response body."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"response truncated at {self.pos} reading {fmt}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            byte = self.take(">B")
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 35:
                raise ValueError("uvarint too long")

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw.decode()

    def skip_tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.pos += self.uvarint()


def parse_api_versions(body: bytes, version: int) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """Returns (correlation_id, error_code, {api_key: (min, max)}) of an ApiVersions response."""
    r = reader(body)
    correlation_id = r.take(">i")
    error_code = r.take(">h")
    apis: dict[int, tuple[int, int]] = {}
    count = r.uvarint() - 1 if version >= 3 else r.take(">i")
    for _ in range(max(count, 0)):
        key, lo, hi = r.take(">hhh")
        if version >= 3:
            r.skip_tagged_fields()
        apis[key] = (lo, hi)
    return correlation_id, error_code, apis


def parse_metadata_v1_brokers(body: bytes) -> tuple[int, list[tuple[int, str, int]]]:
    """Returns (correlation_id, [(node_id, host, port)]) of a Metadata v1 response."""
    r = reader(body)
    correlation_id = r.take(">i")
    brokers = []
    for _ in range(r.take(">i")):
        node_id = r.take(">i")
        host = r.string()
        port = r.take(">i")
        r.string()  # rack
        brokers.append((node_id, host, port))
    return correlation_id, brokers


def recv_exact(sock: socket.socket, n: int) -> bytes | None:
    """n bytes, or None if the peer closed first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_response(sock: socket.socket) -> bytes | None:
    """One size-prefixed response body (starting at the correlation id), or None on close."""
    size_bytes = recv_exact(sock, 4)
    if size_bytes is None:
        return None
    (size,) = struct.unpack(">i", size_bytes)
    if size < 4 or size > 64 * 1024 * 1024:
        raise ValueError(f"implausible response size {size}")
    return recv_exact(sock, size)


def connect(bootstrap: str, timeout_s: float = 10.0) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    sock.settimeout(timeout_s)
    return sock


def round_trip(bootstrap: str, frame: bytes, timeout_s: float = 10.0) -> bytes | None:
    with connect(bootstrap, timeout_s) as sock:
        sock.sendall(frame)
        return read_response(sock)


def broker_answers(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True if ApiVersions v0 and Metadata v1 both get well-formed answers."""
    try:
        with connect(bootstrap, timeout_s) as sock:
            sock.sendall(api_versions_request(1, 0))
            body = read_response(sock)
            if body is None:
                return False
            corr, err, apis = parse_api_versions(body, 0)
            if corr != 1 or err != 0 or API_METADATA not in apis:
                return False
            sock.sendall(metadata_request_v1(2))
            body = read_response(sock)
            if body is None:
                return False
            corr, brokers = parse_metadata_v1_brokers(body)
            return corr == 2 and len(brokers) >= 1
    except (OSError, ValueError):
        return False


def wait_closed(sock: socket.socket, timeout_s: float = 10.0) -> bool:
    """True if the peer closes (EOF or reset) within timeout_s; any bytes it sends are discarded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not chunk:
            return True
    return False


def fetch_request_v11(correlation_id: int, topics: dict[str, dict[int, int]], session_id: int = 0,
                      session_epoch: int = -1, forgotten: dict[str, list[int]] | None = None,
                      rack_id: str = "", max_wait_ms: int = 0, min_bytes: int = 1,
                      partition_max_bytes: int = 1 << 20, replica_id: int = -1,
                      isolation_level: int = 0, max_bytes: int = 50 << 20) -> bytes:
    """Fetch v11 (sessions: KIP-227; rack id: KIP-392): topics = {topic: {partition: fetch_offset}}
    (current leader epoch -1: unchecked), forgotten = {topic: [partition]}; isolation_level 1 is
    read_committed; max_bytes bounds the whole response."""
    body = struct.pack(">iiiibii", replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level, session_id,
                       session_epoch)
    body += struct.pack(">i", len(topics))
    for topic, parts in topics.items():
        body += encode_string(topic) + struct.pack(">i", len(parts))
        for partition, offset in parts.items():
            body += struct.pack(">iiqqi", partition, -1, offset, -1, partition_max_bytes)
    forgotten = forgotten or {}
    body += struct.pack(">i", len(forgotten))
    for topic, parts in forgotten.items():
        body += encode_string(topic) + struct.pack(">i", len(parts)) + b"".join(struct.pack(">i", p) for p in parts)
    body += encode_string(rack_id)
    return request(API_FETCH, 11, correlation_id, body)


def batch_offsets(records: bytes) -> list[tuple[int, int]]:
    """(base offset, record count) of each whole record batch (v2) in a Fetch records field."""
    out, pos = [], 0
    while pos + 61 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break
        (count,) = struct.unpack_from(">i", records, pos + 57)
        out.append((base, count))
        pos += 12 + length
    return out


def parse_fetch_v11(body: bytes) -> dict:
    """A Fetch v11 response: {"error_code", "session_id", "partitions": {(topic, partition): {...}}}
    with each partition's error_code, high_watermark, last_stable_offset, log_start_offset,
    preferred_read_replica, aborted_transactions [(producer id, first offset)] and batches
    (batch_offsets of its records)."""
    r = reader(body)
    r.take(">i")  # correlation id
    _throttle, error, session = r.take(">ihi")
    parts = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            index, perr, hw, lso, lss = r.take(">ihqqq")
            n_aborted = r.take(">i")
            aborted = [r.take(">qq") for _ in range(max(n_aborted, 0))]
            preferred = r.take(">i")
            size = r.take(">i")
            records = b""
            if size > 0:
                records = r.data[r.pos:r.pos + size]
                r.pos += size
            parts[(topic, index)] = {"error_code": perr, "high_watermark": hw, "last_stable_offset": lso,
                                     "log_start_offset": lss, "preferred_read_replica": preferred,
                                     "aborted_transactions": aborted, "batches": batch_offsets(records)}
    return {"error_code": error, "session_id": session, "partitions": parts}


# ---- record batches (v2), Produce v7, Metadata v4, CreateTopics v4

def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as record batches carry it. Pure Python: for small batches."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def encode_varint(n: int) -> bytes:
    """Zigzag varint (record fields)."""
    return encode_uvarint((n << 1) ^ (n >> 63))


def encode_record(offset_delta: int, key: bytes | None, value: bytes | None, timestamp_delta: int = 0) -> bytes:
    body = b"\x00" + encode_varint(timestamp_delta) + encode_varint(offset_delta)
    body += encode_varint(-1) if key is None else encode_varint(len(key)) + key
    body += encode_varint(-1) if value is None else encode_varint(len(value)) + value
    body += encode_varint(0)  # no headers
    return encode_varint(len(body)) + body


def record_batch(records_section: bytes, count: int, codec: int = CODEC_NONE,
                 timestamp_ms: int | None = None) -> bytes:
    """One v2 batch at base offset 0 (no producer id) around an already encoded (and, for a codec,
    already compressed) records section that claims `count` records."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    after_crc = struct.pack(">hiqqqhii", codec, count - 1, ts, ts, -1, -1, -1, count) + records_section
    after_length = struct.pack(">ibI", 0, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


def produce_request_v7(correlation_id: int, topics: dict[str, dict[int, bytes]], acks: int = 1,
                       timeout_ms: int = 30000) -> bytes:
    """Produce v7: topics = {topic: {partition: records}}."""
    body = encode_string(None) + struct.pack(">hii", acks, timeout_ms, len(topics))
    parts = []
    for topic, by_partition in topics.items():
        parts.append(encode_string(topic) + struct.pack(">i", len(by_partition)))
        for partition, records in by_partition.items():
            parts.append(struct.pack(">ii", partition, len(records)))
            parts.append(records)
    return request(API_PRODUCE, 7, correlation_id, body + b"".join(parts))


def parse_produce_v7(body: bytes) -> dict[tuple[str, int], tuple[int, int]]:
    """{(topic, partition): (error_code, base_offset)} of a Produce v7 response, in answer order."""
    r = reader(body)
    r.take(">i")  # correlation id
    out = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            partition, error, base, _append_time, _start = r.take(">ihqqq")
            out[(topic, partition)] = (error, base)
    return out


def metadata_request_v4(correlation_id: int, topics: list[str], allow_auto_topic_creation: bool) -> bytes:
    body = struct.pack(">i", len(topics)) + b"".join(encode_string(t) for t in topics)
    return request(API_METADATA, 4, correlation_id, body + struct.pack(">?", allow_auto_topic_creation))


def parse_metadata_v4_topics(body: bytes) -> dict[str, tuple[int, int]]:
    """{topic: (error_code, partition count)} of a Metadata v4 response."""
    r = reader(body)
    r.take(">ii")  # correlation id, throttle time
    for _ in range(r.take(">i")):
        r.take(">i")
        r.string()
        r.take(">i")
        r.string()
    r.string()  # cluster id
    r.take(">i")  # controller id
    out = {}
    for _ in range(r.take(">i")):
        error = r.take(">h")
        name = r.string()
        r.take(">?")  # internal
        n = r.take(">i")
        for _ in range(n):
            r.take(">hii")
            r.pos += 4 * r.take(">i")  # replicas
            r.pos += 4 * r.take(">i")  # isr
        out[name] = (error, n)
    return out


def create_topics_request_v4(correlation_id: int, topics: list[tuple[str, int, int]], timeout_ms: int = 30000,
                             validate_only: bool = False) -> bytes:
    """CreateTopics v4: topics = [(name, num_partitions, replication_factor)], no assignments or configs."""
    body = struct.pack(">i", len(topics))
    body += b"".join(encode_string(name) + struct.pack(">ihii", partitions, replication, 0, 0)
                     for name, partitions, replication in topics)
    body += struct.pack(">i?", timeout_ms, validate_only)
    return request(API_CREATE_TOPICS, 4, correlation_id, body)


def parse_create_topics_v4(body: bytes) -> dict[str, tuple[int, str | None]]:
    """{topic: (error_code, error_message)} of a CreateTopics v4 response."""
    r = reader(body)
    r.take(">ii")  # correlation id, throttle time
    out = {}
    for _ in range(r.take(">i")):
        name = r.string()
        error = r.take(">h")
        out[name] = (error, r.string())
    return out


# ---- flexible versions: CreateTopics v6 (KIP-599 tests) ----

def compact_array(items: list[bytes]) -> bytes:
    return encode_uvarint(len(items) + 1) + b"".join(items)


def compact_string_or_null(r: reader) -> str | None:
    n = r.uvarint() - 1
    if n < 0:
        return None
    s = r.data[r.pos:r.pos + n].decode()
    r.pos += n
    return s


def create_topics_v6(correlation_id: int, client_id: str, topics: list[tuple[str, int]]) -> bytes:
    body = compact_array([encode_compact_string(name) + struct.pack(">ih", partitions, 1)
                          + compact_array([]) + compact_array([]) + b"\x00" for name, partitions in topics])
    body += struct.pack(">i?", 30000, False) + b"\x00"
    return request(API_CREATE_TOPICS, 6, correlation_id, body, client_id=client_id, flexible=True)


def flexible_response_head(body: bytes):
    """A reader after a flexible response's header (correlation id, tagged fields) and its
    throttle_time_ms, and the throttle time."""
    r = reader(body)
    r.take(">i")
    r.skip_tagged_fields()
    return r, r.take(">i")


def parse_create_topics_v6(body: bytes) -> tuple[int, dict[str, tuple[int, str | None]]]:
    """(throttle_time_ms, {topic: (error_code, error_message)})."""
    r, throttle_ms = flexible_response_head(body)
    out = {}
    for _ in range(r.uvarint() - 1):
        name = compact_string_or_null(r)
        error = r.take(">h")
        message = compact_string_or_null(r)
        r.take(">ih")  # partitions, replication factor
        for _ in range(max(r.uvarint() - 1, 0)):  # configs
            compact_string_or_null(r)
            compact_string_or_null(r)
            r.take(">?b?")
            r.skip_tagged_fields()
        r.skip_tagged_fields()
        out[name] = (error, message)
    return throttle_ms, out
