"""Kafka's request schemas (the message definitions shipped in the kafka-clients jar) loaded at run
time, and an encoder of any request at any version following the schema rules, for tests that
generate requests instead of hand-building a few shapes (test_odd_requests.py).

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
    """Every request message of the jar, by api key."""

    def __init__(self, jar: Path | None = None):
        self.jar = Path(jar) if jar else find_clients_jar()
        self.requests: dict[int, message_spec] = {}
        self.names: dict[int, str] = {}
        with zipfile.ZipFile(self.jar) as z:
            for name in z.namelist():
                if name.startswith("common/message/") and name.endswith("Request.json"):
                    doc = parse_message(z.read(name).decode())
                    if doc.get("type") != "request" or "apiKey" not in doc:
                        continue
                    msg = message_from_json(doc)
                    self.requests[msg.api_key] = msg
                    self.names[msg.api_key] = msg.name[:-len("Request")]

    def request(self, api_key: int) -> message_spec:
        return self.requests[api_key]


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


# ---- responses: just enough to match them with their requests

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
