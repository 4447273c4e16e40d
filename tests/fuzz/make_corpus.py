#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/), in each target's input
format (a selector byte, then the bytes; see each *_fuzz.cc).

Sources:
  - request/response: the frames captured between real clients and Kafka 4.3.1
    (tests/unit/protocol/captured/kafka-4.3.1.txt);
  - records, metadata, state, storage: the files of a real Gregor log directory (--data-dir), one
    that clients wrote to with every codec, idempotent and transactional producers and a consumer
    group (the README shows how it was made), and the batches and records inside them;
  - config and security: the embedded default config and hand-written examples of each syntax.

Usage: make_corpus.py --data-dir DIR [--out tests/fuzz/corpus]
Python 3 standard library only. Re-running replaces the seeds it writes.
"""
import argparse
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class Corpus:
    def __init__(self, out):
        self.out = out
        self.counts = {}

    def add(self, target, data, selector=None):
        if selector is not None:
            data = bytes([selector]) + data
        d = os.path.join(self.out, target)
        os.makedirs(d, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(data)
        self.counts[target] = self.counts.get(target, 0) + 1


def varint(buf, pos):
    """Zig-zag varint at pos -> (value, next pos)."""
    shift = raw = 0
    while True:
        b = buf[pos]
        pos += 1
        raw |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    return (raw >> 1) ^ -(raw & 1), pos


def batches(blob):
    pos = 0
    while len(blob) - pos >= 61:
        (length,) = struct.unpack_from(">i", blob, pos + 8)
        if length < 49 or pos + 12 + length > len(blob):
            return
        yield blob[pos:pos + 12 + length]
        pos += 12 + length


def batch_records(batch):
    """(key, value) of each record of an uncompressed batch."""
    (attributes,) = struct.unpack_from(">h", batch, 21)
    if attributes & 7:
        return []
    (count,) = struct.unpack_from(">i", batch, 57)
    pos, out = 61, []
    for _ in range(count):
        length, pos = varint(batch, pos)
        end = pos + length
        pos += 1  # attributes
        _, pos = varint(batch, pos)  # timestamp delta
        _, pos = varint(batch, pos)  # offset delta
        klen, pos = varint(batch, pos)
        key = None if klen < 0 else batch[pos:pos + klen]
        pos += max(klen, 0)
        vlen, pos = varint(batch, pos)
        value = None if vlen < 0 else batch[pos:pos + vlen]
        out.append((key, value))
        pos = end
    return out


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def captured(c):
    path = os.path.join(ROOT, "tests/unit/protocol/captured/kafka-4.3.1.txt")
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        _label, key, version, req, resp = line.split()
        c.add("request", bytes.fromhex(req))
        if resp != "-":
            body = bytes.fromhex(resp)[4:]  # the correlation id
            key, version = int(key), int(version)
            flexible_header = body[:1] == b"\x00" and key != 18  # response header v1: empty tagged fields
            if flexible_header:
                body = body[1:]
            c.add("response", struct.pack(">hh", key, version) + body)


def data_dir(c, root):
    for dirpath, _dirs, files in os.walk(root):
        part = os.path.basename(dirpath)
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            data = read(path)
            if not data:
                continue
            if f.endswith(".log"):
                c.add("storage", data, 0)
                if part.startswith("__cluster_metadata"):
                    c.add("metadata", data, 1)
                    for b in batches(data):
                        for _key, value in batch_records(b):
                            if value:
                                c.add("metadata", value, 0)
                    continue
                for b in batches(data):
                    records = batch_records(b)
                    if part.startswith("__consumer_offsets"):
                        for key, value in records:
                            c.add("state", key or b"", 0)
                            if value:
                                version = struct.unpack_from(">h", key)[0] if key and len(key) >= 2 else 0
                                c.add("state", value, 1 if version in (0, 1) else 2)
                                c.add("state", struct.pack(">H", len(key)) + key + value, 3)
                    elif part.startswith("__transaction_state"):
                        for key, value in records:
                            c.add("state", struct.pack(">H", len(key or b"")) + (key or b"") + (value or b""), 4)
                    else:
                        produced = bytearray(b)
                        produced[0:8] = b"\0" * 8  # a Produce request's batches start at offset 0
                        c.add("records", bytes(produced), 0)
                        codec = struct.unpack_from(">h", b, 21)[0] & 7
                        if codec:
                            c.add("records", b[61:], codec + 2)  # the compressed section alone
            elif f.endswith(".snapshot"):
                c.add("state", data, 5)
            elif f.endswith(".checkpoint"):
                c.add("metadata", data, 2)
                c.add("metadata", f.encode(), 5)
            elif f == "quorum-state":
                c.add("metadata", data, 3)
            elif f == "leader-epoch-checkpoint":
                c.add("storage", data, 4)
            elif f.endswith("-checkpoint"):
                c.add("storage", data, 5)
            elif f == "meta.properties":
                c.add("storage", data, 6)
    # Index files of a small log stay empty; a few entries of each kind, as the segment writes them.
    c.add("storage", struct.pack(">II", 10, 4096) + struct.pack(">II", 20, 8192), 1)
    c.add("storage", struct.pack(">qI", 1_700_000_000_000, 10) + struct.pack(">qI", 1_700_000_001_000, 20), 2)
    c.add("storage", struct.pack(">hqqqq", 0, 1000, 5, 9, 5) + struct.pack(">hqqqq", 0, 1001, 12, 20, 12), 3)


def config_and_security(c):
    src = open(os.path.join(ROOT, "src/config/broker_config.cc"), encoding="utf-8").read()
    start = src.index('k_embedded_default = R"(') + len('k_embedded_default = R"(')
    c.add("config", src[start:src.index(')"', start)].encode(), 0)
    c.add("config", read(os.path.join(ROOT, "config/gregor.yaml")), 0)
    for text in ("cleanup.policy=compact,delete", "retention.ms=-1", "max.message.bytes=1048588",
                 "min.insync.replicas=2", "compression.type=zstd", "message.timestamp.type=LogAppendTime"):
        c.add("config", text.encode(), 1)
    for text in ("log.retention.ms=86400000", "ssl.keystore.location=/tmp/k.pem", "max.connections=100"):
        c.add("config", text.encode(), 2)
    for text in ("SASL_SSL://0.0.0.0:9093", "CLIENT://[::1]:9092", "CONTROLLER://localhost:9093"):
        c.add("config", text.encode(), 3)
    c.add("config", b"1@localhost:9093", 4)

    jwt = (b"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MTkwMDAwMDAwMCwiYXVkIjoia2Fma2EifQ."
           b"c2lnbmF0dXJl")
    c.add("security", b'{"keys":[{"kty":"RSA","kid":"k1","use":"sig","n":"AQAB","e":"AQAB"},'
                      b'{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}],"a":[1,2.5e3,true,null,"\\u00e9"]}', 0)
    c.add("security", jwt, 1)
    c.add("security", b"n,a=alice,\x01auth=Bearer " + jwt + b"\x01\x01", 2)
    c.add("security", b"\x00alice\x00alice-secret", 3)
    first = b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL"
    final = b"c=biws,r=fyko+d2lbbFgONRv9qkxdawLfuzz-nonce,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    c.add("security", struct.pack(">H", len(first)) + first + final, 4)
    c.add("security", b'KafkaServer { org.apache.kafka.common.security.plain.PlainLoginModule required '
                      b'user_admin="admin-secret" user_alice="alice-secret"; };', 5)
    c.add("security", b"org.apache.kafka.common.security.scram.ScramLoginModule required "
                      b'username="admin" password="admin-secret";', 5)
    c.add("security", b"SCRAM-SHA-256=[name=alice,password=alice-secret]", 6)
    c.add("security", b"SCRAM-SHA-512=[name=bob,iterations=8192,salt=\"c2FsdA==\",saltedpassword=\"cGFzcw==\"]", 6)
    c.add("security", b"aGVsbG8gd29ybGQ=", 7)
    c.add("security", b"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/U,DEFAULT", 8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="a Gregor log directory clients wrote to")
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = ap.parse_args()
    c = Corpus(args.out)
    captured(c)
    data_dir(c, args.data_dir)
    config_and_security(c)
    for target, n in sorted(c.counts.items()):
        print(f"{target}: {n} seeds written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
