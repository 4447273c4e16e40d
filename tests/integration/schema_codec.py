"""Kafka's request and response schemas (the message definitions shipped in the kafka-clients jar)
loaded at run time, an encoder of any request at any version following the schema rules, for tests
that generate requests instead of hand-building a few shapes (test_odd_requests.py), and its mirror,
a decoder of any message body (decode_body: responses, and captured requests with decode_request)
into the same values, for the differential check (differential.py).

What the encoder follows, per field and version:
- `versions` (present or not), `nullableVersions` (null allowed), `taggedVersions` + `tag` (in the
  tagged-fields section instead of the body), the message's `flexibleVersions` (compact strings,
  arrays and bytes as unsigned varint length + 1, a tagged-fields section after every struct);
- types int8/16/32/64, uint16, uint32, float64, bool, uuid, string, bytes, records, structs (inline,
  or named from `commonStructs`; a nullable struct is an int8 -1/1 marker), arrays of structs and
  of primitives;
- unknown tagged fields: a struct's value may carry `UNKNOWN_TAGS: [(tag, bytes)]`; they are
  merged with its known tagged fields in ascending tag order (the receiver must skip them).

A value is a dict {field name: value} per struct (a missing field is an encoding error, except a
tagged one, which is then omitted), a list per array, None for null.

The json files carry `//` comments, stripped here (outside string literals) before parsing. The jar
is kafka-clients from ~/.m2 (the version pinned by tests/tools/pom.xml, resolved through
tests/tools/kafka-classpath.sh when it is not there yet), or GREGOR_KAFKA_CLIENTS_JAR.
"""
from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import zipfile
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import kafka_wire

UNKNOWN_TAGS = "__unknown_tags__"
VERSION_MAX = 0x7FFF
PRIMITIVES = {"int8", "int16", "int32", "int64", "uint16", "uint32", "float64", "string", "bytes",
              "bool", "uuid", "records"}
FIXED_FORMATS = {"int8": ">b", "int16": ">h", "int32": ">i", "int64": ">q", "uint16": ">H",
                 "uint32": ">I", "float64": ">d", "bool": ">?"}

TOOLS_DIR = Path(__file__).resolve().parents[1] / "tools"


# ---- version ranges

@dataclass(frozen=True)
class version_range:
    lo: int
    hi: int  # inclusive; lo > hi is the empty range ("none")

    @staticmethod
    def parse(text: str | None) -> "version_range":
        if text is None or text == "none":
            return version_range(1, 0)
        text = text.strip()
        if text.endswith("+"):
            return version_range(int(text[:-1]), VERSION_MAX)
        if "-" in text:
            lo, hi = text.split("-")
            return version_range(int(lo), int(hi))
        return version_range(int(text), int(text))

    def __contains__(self, version: int) -> bool:
        return self.lo <= version <= self.hi


# ---- schema model

@dataclass
class field_spec:
    name: str
    type: str  # as written: "int32", "[]string", "[]Topic", "Cursor"
    versions: version_range
    nullable: version_range
    tagged: version_range
    tag: int | None
    entity_type: str | None
    fields: list["field_spec"] | None  # the struct's fields (inline or resolved from commonStructs)
    about: str = ""

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def element_type(self) -> str:
        return self.type[2:] if self.is_array else self.type

    @property
    def is_struct(self) -> bool:
        return self.element_type not in PRIMITIVES

    def present(self, version: int) -> bool:
        return version in self.versions

    def is_tagged(self, version: int) -> bool:
        return self.tag is not None and version in self.tagged

    def is_nullable(self, version: int) -> bool:
        return version in self.nullable


@dataclass
class message_spec:
    name: str
    api_key: int
    valid: version_range
    flexible: version_range
    fields: list[field_spec] = dc_field(default_factory=list)

    def is_flexible(self, version: int) -> bool:
        return version in self.flexible


def strip_comments(text: str) -> str:
    """Removes // comments outside string literals (an `about` may contain "http://...")."""
    out, i, n, in_string = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _field(raw: dict, common: dict[str, list[dict]]) -> field_spec:
    element = raw["type"][2:] if raw["type"].startswith("[]") else raw["type"]
    sub = raw.get("fields")
    if sub is None and element not in PRIMITIVES:
        if element not in common:
            raise ValueError(f"field {raw['name']}: struct type {element} is neither inline nor a common struct")
        sub = common[element]
    return field_spec(
        name=raw["name"], type=raw["type"].replace(" ", ""),
        versions=version_range.parse(raw.get("versions")),
        nullable=version_range.parse(raw.get("nullableVersions")),
        tagged=version_range.parse(raw.get("taggedVersions")),
        tag=raw.get("tag"), entity_type=raw.get("entityType"),
        fields=[_field(f, common) for f in sub] if sub is not None else None,
        about=raw.get("about", ""))


def parse_message(text: str) -> dict:
    return json.loads(strip_comments(text))


def message_from_json(doc: dict) -> message_spec:
    common = {c["name"]: c["fields"] for c in doc.get("commonStructs", [])}
    return message_spec(name=doc["name"], api_key=doc["apiKey"], valid=version_range.parse(doc["validVersions"]),
                        flexible=version_range.parse(doc.get("flexibleVersions", "none")),
                        fields=[_field(f, common) for f in doc.get("fields", [])])


def find_clients_jar() -> Path:
    explicit = os.environ.get("GREGOR_KAFKA_CLIENTS_JAR")
    if explicit:
        return Path(explicit)
    pom = (TOOLS_DIR / "pom.xml").read_text()
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom) or \
        re.search(r"<artifactId>kafka-clients</artifactId>\s*<version>([^<]+)</version>", pom)
    m2 = Path.home() / ".m2" / "repository" / "org" / "apache" / "kafka" / "kafka-clients"
    if match:
        jar = m2 / match.group(1) / f"kafka-clients-{match.group(1)}.jar"
        if jar.exists():
            return jar
    # Not in ~/.m2 yet: kafka-classpath.sh resolves Kafka's artifacts (kafka-clients among them).
    proc = subprocess.run([str(TOOLS_DIR / "kafka-classpath.sh")], capture_output=True, text=True, timeout=280)
    for entry in proc.stdout.strip().split(":"):
        if re.search(r"/kafka-clients-[0-9.]+\.jar$", entry):
            return Path(entry)
    jars = sorted(m2.glob("*/kafka-clients-*.jar"))
    if jars:
        return jars[-1]
    raise FileNotFoundError("kafka-clients jar not found in ~/.m2 nor through tests/tools/kafka-classpath.sh")


class schema_set:
    """Every request and response message of the jar, by api key."""

    def __init__(self, jar: Path | None = None):
        self.jar = Path(jar) if jar else find_clients_jar()
        self.requests: dict[int, message_spec] = {}
        self.responses: dict[int, message_spec] = {}
        self.names: dict[int, str] = {}
        with zipfile.ZipFile(self.jar) as z:
            for name in z.namelist():
                if name.startswith("common/message/") and name.endswith(("Request.json", "Response.json")):
                    doc = parse_message(z.read(name).decode())
                    if doc.get("type") not in ("request", "response") or "apiKey" not in doc:
                        continue
                    msg = message_from_json(doc)
                    if doc["type"] == "request":
                        self.requests[msg.api_key] = msg
                        self.names[msg.api_key] = msg.name[:-len("Request")]
                    else:
                        self.responses[msg.api_key] = msg

    def request(self, api_key: int) -> message_spec:
        return self.requests[api_key]

    def response(self, api_key: int) -> message_spec:
        return self.responses[api_key]


# ---- encoding

def uvarint(n: int) -> bytes:
    if n < 0:
        raise ValueError(f"uvarint of a negative number {n}")
    return kafka_wire.encode_uvarint(n)


class encode_error(ValueError):
    pass


def _length(n: int | None, flexible: bool, wide: bool) -> bytes:
    """A length or count: None is null. Compact: uvarint(n + 1); classic: int16 (strings) or int32."""
    if flexible:
        return uvarint(0 if n is None else n + 1)
    n = -1 if n is None else n
    return struct.pack(">i" if wide else ">h", n)


def encode_primitive(type_: str, value, flexible: bool) -> bytes:
    if type_ in FIXED_FORMATS:
        return struct.pack(FIXED_FORMATS[type_], value)
    if type_ == "uuid":
        if len(value) != 16:
            raise encode_error("uuid must be 16 bytes")
        return bytes(value)
    if type_ == "string":
        if value is None:
            return _length(None, flexible, wide=False)
        raw = value.encode() if isinstance(value, str) else bytes(value)
        if not flexible and len(raw) > 0x7FFF:
            raise encode_error(f"string of {len(raw)} bytes does not fit an int16 length")
        return _length(len(raw), flexible, wide=False) + raw
    if type_ in ("bytes", "records"):
        if value is None:
            return _length(None, flexible, wide=True)
        return _length(len(value), flexible, wide=True) + bytes(value)
    raise encode_error(f"unknown type {type_}")


def encode_struct(fields: list[field_spec], value: dict, version: int, flexible: bool) -> bytes:
    out = bytearray()
    tagged: list[tuple[int, bytes]] = []
    for f in fields:
        if not f.present(version):
            if f.name in value and value[f.name] is not None and not f.is_tagged(version):
                raise encode_error(f"{f.name} is set but absent from version {version}")
            continue
        if f.is_tagged(version):
            if not flexible:
                raise encode_error(f"{f.name}: tagged field in a non-flexible version {version}")
            if f.name in value:
                tagged.append((f.tag, encode_field(f, value[f.name], version, flexible)))
            continue
        if f.name not in value:
            raise encode_error(f"{f.name} missing at version {version}")
        out += encode_field(f, value[f.name], version, flexible)
    if flexible:
        unknown = list(value.get(UNKNOWN_TAGS, []))
        known = {t for t, _ in tagged}
        if any(t in known for t, _ in unknown):
            raise encode_error("an unknown tag collides with a known one")
        entries = sorted(tagged + unknown, key=lambda e: e[0])
        if len({t for t, _ in entries}) != len(entries):
            raise encode_error("duplicate tags")
        out += uvarint(len(entries))
        for tag, data in entries:
            out += uvarint(tag) + uvarint(len(data)) + data
    elif value.get(UNKNOWN_TAGS):
        raise encode_error("unknown tagged fields in a non-flexible version")
    return bytes(out)


def encode_field(f: field_spec, value, version: int, flexible: bool) -> bytes:
    if value is None and not f.is_nullable(version):
        raise encode_error(f"{f.name} is null but not nullable at version {version}")
    if f.is_array:
        if value is None:
            return _length(None, flexible, wide=True)
        out = bytearray(_length(len(value), flexible, wide=True))
        for item in value:
            if f.is_struct:
                out += encode_struct(f.fields, item, version, flexible)
            else:
                out += encode_primitive(f.element_type, item, flexible)
        return bytes(out)
    if f.is_struct:
        if f.is_nullable(version):
            if value is None:
                return struct.pack(">b", -1)
            return struct.pack(">b", 1) + encode_struct(f.fields, value, version, flexible)
        return encode_struct(f.fields, value, version, flexible)
    return encode_primitive(f.type, value, flexible)


def request_header(api_key: int, version: int, correlation_id: int, client_id: str | None, flexible: bool,
                   unknown_tags: list[tuple[int, bytes]] | None = None) -> bytes:
    """Request header v1 (classic) or v2 (flexible: v1 + tagged fields). The client id is a
    classic nullable string in both."""
    out = struct.pack(">hhi", api_key, version, correlation_id) + encode_primitive("string", client_id, False)
    if flexible:
        tags = sorted(unknown_tags or [])
        out += uvarint(len(tags)) + b"".join(uvarint(t) + uvarint(len(d)) + d for t, d in tags)
    return out


def encode_request(msg: message_spec, version: int, correlation_id: int, body: dict,
                   client_id: str | None = "odd-load", header_tags: list[tuple[int, bytes]] | None = None) -> bytes:
    """A complete size-prefixed frame."""
    flexible = msg.is_flexible(version)
    payload = request_header(msg.api_key, version, correlation_id, client_id, flexible, header_tags) + \
        encode_struct(msg.fields, body, version, flexible)
    return struct.pack(">i", len(payload)) + payload


# ---- decoding (the mirror of the encoder; responses, and captured requests)

class decode_error(ValueError):
    pass


class reader:
    """A cursor over bytes; every read checks the bytes left (a decoder never trusts a length)."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise decode_error(f"{n} bytes wanted at {self.pos}, {len(self.data) - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(out)

    def fixed(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def uvarint(self) -> int:
        try:
            value, self.pos = _read_uvarint(self.data, self.pos)
        except ValueError as exc:
            raise decode_error(str(exc)) from None
        return value

    def length(self, flexible: bool, wide: bool) -> int | None:
        """A length or count; None is null (the mirror of _length)."""
        n = self.uvarint() - 1 if flexible else self.fixed(">i" if wide else ">h")
        return None if n < 0 else n

    def left(self) -> int:
        return len(self.data) - self.pos


def decode_primitive(r: reader, type_: str, flexible: bool):
    if type_ in FIXED_FORMATS:
        return r.fixed(FIXED_FORMATS[type_])
    if type_ == "uuid":
        return r.take(16)
    if type_ == "string":
        n = r.length(flexible, wide=False)
        return None if n is None else r.take(n).decode(errors="surrogateescape")
    if type_ in ("bytes", "records"):
        n = r.length(flexible, wide=True)
        return None if n is None else r.take(n)
    raise decode_error(f"unknown type {type_}")


def decode_struct(r: reader, fields: list[field_spec], version: int, flexible: bool) -> dict:
    """{field name: value} with the fields present at that version; tagged fields that were not
    sent are absent; unknown tagged fields are kept under UNKNOWN_TAGS as (tag, bytes)."""
    value: dict = {}
    by_tag = {}
    for f in fields:
        if not f.present(version):
            continue
        if f.is_tagged(version):
            by_tag[f.tag] = f
            continue
        value[f.name] = decode_field(r, f, version, flexible)
    if flexible:
        count = r.uvarint()
        for _ in range(count):
            tag = r.uvarint()
            size = r.uvarint()
            data = r.take(size)
            if tag in by_tag:
                sub = reader(data)
                value[by_tag[tag].name] = decode_field(sub, by_tag[tag], version, flexible)
                if sub.left():
                    raise decode_error(f"tagged field {by_tag[tag].name}: {sub.left()} bytes left over")
            else:
                value.setdefault(UNKNOWN_TAGS, []).append((tag, data))
    return value


def decode_field(r: reader, f: field_spec, version: int, flexible: bool):
    if f.is_array:
        n = r.length(flexible, wide=True)
        if n is None:
            return None
        if n > r.left():  # every element takes at least one byte
            raise decode_error(f"{f.name}: {n} elements claimed, {r.left()} bytes left")
        if f.is_struct:
            return [decode_struct(r, f.fields, version, flexible) for _ in range(n)]
        return [decode_primitive(r, f.element_type, flexible) for _ in range(n)]
    if f.is_struct:
        if f.is_nullable(version):
            marker = r.fixed(">b")
            if marker < 0:
                return None
        return decode_struct(r, f.fields, version, flexible)
    return decode_primitive(r, f.type, flexible)


def decode_body(msg: message_spec, version: int, data: bytes, pos: int = 0) -> dict:
    """A whole message body at that version; bytes left over are an error."""
    r = reader(data, pos)
    value = decode_struct(r, msg.fields, version, msg.is_flexible(version))
    if r.left():
        raise decode_error(f"{msg.name} v{version}: {r.left()} bytes left over")
    return value


def decode_request(msgs: "schema_set", frame_payload: bytes) -> tuple[int, int, int, str | None, dict]:
    """(api key, version, correlation id, client id, body) of a request payload (no size prefix)."""
    r = reader(frame_payload)
    api_key, version, correlation_id = r.fixed(">h"), r.fixed(">h"), r.fixed(">i")
    client_id = decode_primitive(r, "string", False)
    msg = msgs.request(api_key)
    if msg.is_flexible(version):
        r.pos = _skip_tagged(r.data, r.pos)
    return api_key, version, correlation_id, client_id, decode_body(msg, version, r.data, r.pos)


# ---- responses: the header

API_VERSIONS_KEY = 18


def response_header_bytes(api_key: int, version: int, flexible: bool) -> str:
    """Response header v1 (correlation id + tagged fields) for flexible versions, v0 otherwise;
    ApiVersions always answers with v0 (a client that does not know the broker's versions yet
    must be able to read it)."""
    return "v1" if flexible and api_key != API_VERSIONS_KEY else "v0"


def decode_response_header(body: bytes, api_key: int, version: int, flexible: bool) -> tuple[int, int]:
    """(correlation id, offset of the response body) of a response frame's payload."""
    if len(body) < 4:
        raise ValueError(f"response of {len(body)} bytes has no correlation id")
    (correlation_id,) = struct.unpack_from(">i", body, 0)
    pos = 4
    if response_header_bytes(api_key, version, flexible) == "v1":
        pos = _skip_tagged(body, pos)
    return correlation_id, pos


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated uvarint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 35:
            raise ValueError("uvarint too long")


def _skip_tagged(data: bytes, pos: int) -> int:
    count, pos = _read_uvarint(data, pos)
    for _ in range(count):
        _tag, pos = _read_uvarint(data, pos)
        size, pos = _read_uvarint(data, pos)
        pos += size
        if pos > len(data):
            raise ValueError("tagged field past the end")
    return pos
