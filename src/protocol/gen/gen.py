#!/usr/bin/env python3
"""Gregor protocol generator: reads our .gs schema files and emits C++ message structs.

Usage: gen.py --schema-dir DIR --include-out DIR --src-out DIR [--tests-out FILE]

For every schema file <api>.gs it writes <include-out>/gregor/protocol/messages/<api>.h and
<src-out>/<api>.cc, plus <src-out>/api_table.cc (the table behind api.h). With --tests-out it also
writes a GoogleTest file that round-trips every message at every version.
The schema format is documented in src/protocol/README.md. Python 3 standard library only.
"""
import argparse
import os
import re
import sys

INT16_MAX = 32767

PRIMITIVES = {
    "int8": ("int8_t", "int8", 1),
    "int16": ("int16_t", "int16", 2),
    "int32": ("int32_t", "int32", 4),
    "int64": ("int64_t", "int64", 8),
    "uint16": ("uint16_t", "uint16", 2),
    "uint32": ("uint32_t", "uint32", 4),
    "float64": ("double", "float64", 8),
    "bool": ("bool", "bool", 1),
    "uuid": ("uuid", "uuid", 16),
}
INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint16": 16, "uint32": 32}
BLOBS = ("string", "bytes", "records")

CPP_KEYWORDS = set("""alignas alignof and and_eq asm auto bitand bitor bool break case catch char
char8_t char16_t char32_t class compl concept const consteval constexpr constinit const_cast
continue co_await co_return co_yield decltype default delete do double dynamic_cast else enum
explicit export extern false float for friend goto if inline int long mutable namespace new
noexcept not not_eq nullptr operator or or_eq private protected public register reinterpret_cast
requires return short signed sizeof static static_assert static_cast struct switch template this
thread_local throw true try typedef typeid typename union unsigned using virtual void volatile
wchar_t while xor xor_eq""".split())


class SchemaError(Exception):
    pass


def snake(name):
    # "KRaft" is one word (KRaftVersionRecord -> kraft_version_record).
    name = name.replace("KRaft", "Kraft")
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def member_name(name):
    s = snake(name)
    return s + "_" if s in CPP_KEYWORDS else s


class Range:
    """An inclusive version range; hi None means open-ended. Empty when lo is None."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(text, where):
        if text == "none":
            return Range(None, None)
        m = re.fullmatch(r"(\d+)\+", text)
        if m:
            return Range(int(m.group(1)), None)
        m = re.fullmatch(r"(\d+)-(\d+)", text)
        if m:
            return Range(int(m.group(1)), int(m.group(2)))
        m = re.fullmatch(r"(\d+)", text)
        if m:
            return Range(int(m.group(1)), int(m.group(1)))
        raise SchemaError(f"{where}: bad version range '{text}'")

    def empty(self):
        return self.lo is None

    def contains(self, v):
        return not self.empty() and v >= self.lo and (self.hi is None or v <= self.hi)

    def intersect(self, other):
        if self.empty() or other.empty():
            return Range(None, None)
        lo = max(self.lo, other.lo)
        his = [h for h in (self.hi, other.hi) if h is not None]
        hi = min(his) if his else None
        if hi is not None and hi < lo:
            return Range(None, None)
        return Range(lo, hi)

    def cond(self, var="version"):
        """A C++ condition for `var` in this range (within [0, INT16_MAX])."""
        if self.empty():
            return "false"
        parts = []
        if self.lo > 0:
            parts.append(f"{var} >= {self.lo}")
        if self.hi is not None:
            parts.append(f"{var} <= {self.hi}")
        return " && ".join(parts) if parts else "true"


class Field:
    def __init__(self, name, type_text, where):
        self.name = name
        self.where = where
        self.is_array = type_text.startswith("[]")
        self.base = type_text[2:] if self.is_array else type_text
        self.versions = Range(0, None)
        self.nullable = Range(None, None)
        self.tag = None
        self.tagged = Range(None, None)
        self.default = None
        self.ignorable = False
        self.children = None  # inline struct fields, if any

    @property
    def is_struct(self):
        return self.base not in PRIMITIVES and self.base not in BLOBS

    @property
    def member(self):
        return member_name(self.name)

    @property
    def any_nullable(self):
        return not self.nullable.empty() or self.base == "records"

    def regular_range(self):
        """Versions in which the field is written in the fixed part of the struct."""
        if self.tag is None:
            return self.versions
        # Tagged fields are tagged in every flexible version they exist in; Kafka allows
        # a field to be untagged in older versions, which we model as the versions below.
        if self.tagged.empty():
            return self.versions
        below = Range(self.versions.lo, self.tagged.lo - 1) if self.tagged.lo > self.versions.lo else Range(None, None)
        return below


class Struct:
    def __init__(self, name, fields):
        self.name = name
        self.fields = fields

    @property
    def cpp(self):
        return snake(self.name)


class Message:
    def __init__(self, api, kind):
        self.api = api
        self.kind = kind  # "request" or "response"
        self.fields = []
        self.common = []  # Struct

    @property
    def cpp(self):
        if self.kind == "record":
            return self.api.file_stem
        return f"{self.api.file_stem}_{self.kind}"


class Api:
    def __init__(self, name, key, valid, flexible, file_stem):
        self.name, self.key, self.valid, self.flexible, self.file_stem = name, key, valid, flexible, file_stem
        self.request = None
        self.response = None

    @property
    def flexible_min(self):
        return INT16_MAX if self.flexible.empty() else self.flexible.lo


class RecordSchema:
    """A single message that is not a request/response pair: a metadata log record (keyed by its
    record type, Kafka's apiKey) or a KRaft control record (keyed by its control record type)."""

    def __init__(self, name, key, is_control, valid, flexible, file_stem):
        self.name, self.key, self.is_control = name, key, is_control
        self.valid, self.flexible, self.file_stem = valid, flexible, file_stem
        self.record = None

    @property
    def flexible_min(self):
        return INT16_MAX if self.flexible.empty() else self.flexible.lo


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_field_line(text, where):
    tokens = text.split()
    if len(tokens) < 2:
        raise SchemaError(f"{where}: a field line needs a name and a type")
    f = Field(tokens[0], tokens[1], where)
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", f.name):
        raise SchemaError(f"{where}: field name '{f.name}' is not CamelCase")
    explicit_null = None
    for tok in tokens[2:]:
        if tok.startswith("v") and re.fullmatch(r"v[\d+\-]+|vnone", tok):
            f.versions = Range.parse(tok[1:], where)
        elif tok == "nullable":
            explicit_null = "all"
        elif tok.startswith("nullable="):
            explicit_null = Range.parse(tok[len("nullable="):], where)
        elif tok.startswith("tag="):
            f.tag = int(tok[4:])
        elif tok.startswith("tagged="):
            f.tagged = Range.parse(tok[len("tagged="):], where)
        elif tok.startswith("default="):
            f.default = tok[len("default="):]
            if f.default.startswith('"'):
                if not f.default.endswith('"') or len(f.default) < 2:
                    raise SchemaError(f"{where}: unterminated string default")
        elif tok == "ignorable":
            f.ignorable = True
        else:
            raise SchemaError(f"{where}: unknown annotation '{tok}'")
    if explicit_null == "all":
        f.nullable = Range(f.versions.lo, f.versions.hi)
    elif explicit_null is not None:
        f.nullable = explicit_null
    if f.tag is not None and f.tagged.empty():
        f.tagged = Range(f.versions.lo, f.versions.hi)
    if f.base in PRIMITIVES and not f.is_array and not f.nullable.empty():
        raise SchemaError(f"{where}: {f.base} cannot be nullable")
    return f


def read_schema_lines(path):
    """The non-blank lines of a schema file as (indent level, text, where)."""
    with open(path, encoding="utf-8") as fh:
        raw_lines = fh.readlines()
    lines = []
    for i, raw in enumerate(raw_lines, 1):
        text = raw.split("#", 1)[0].rstrip()
        if not text.strip():
            continue
        if "\t" in text:
            raise SchemaError(f"{path}:{i}: tabs are not allowed")
        indent = len(text) - len(text.lstrip(" "))
        if indent % 2:
            raise SchemaError(f"{path}:{i}: indentation must be a multiple of two spaces")
        lines.append((indent // 2, text.strip(), f"{path}:{i}"))
    return lines


class BlockParser:
    """Parses indented field blocks of a schema file's lines."""

    def __init__(self, lines, pos):
        self.lines, self.pos = lines, pos

    def block(self, depth):
        fields = []
        while self.pos < len(self.lines):
            indent, text, where = self.lines[self.pos]
            if indent < depth:
                break
            if indent > depth:
                raise SchemaError(f"{where}: unexpected indentation")
            self.pos += 1
            f = parse_field_line(text, where)
            if self.pos < len(self.lines) and self.lines[self.pos][0] > depth:
                f.children = self.block(depth + 1)
                if not f.is_struct:
                    raise SchemaError(f"{where}: only struct types may have nested fields")
            fields.append(f)
        return fields


def parse_head(lines, path, kind, usage):
    if not lines or not lines[0][1].startswith(kind + " "):
        raise SchemaError(f"{path}: the first line must be '{usage}'")
    head = lines[0][1].split()
    if len(head) < 2:
        raise SchemaError(f"{path}: the first line must be '{usage}'")
    try:
        attrs = dict(t.split("=", 1) for t in head[2:])
    except ValueError:
        raise SchemaError(f"{path}: the first line must be '{usage}'")
    return head[1], attrs


def parse_schema(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    lines = read_schema_lines(path)
    name, attrs = parse_head(lines, path, "api", "api <Name> key=<n> versions=<range> flexible=<range>")
    try:
        api = Api(name, int(attrs["key"]), Range.parse(attrs["versions"], path),
                  Range.parse(attrs.get("flexible", "none"), path), stem)
    except KeyError as e:
        raise SchemaError(f"{path}: api line misses {e}")

    parser = BlockParser(lines, 1)
    current = None
    while parser.pos < len(lines):
        indent, text, where = lines[parser.pos]
        if indent != 0:
            raise SchemaError(f"{where}: expected 'request', 'response' or 'struct <Name>'")
        parser.pos += 1
        if text in ("request", "response"):
            current = Message(api, text)
            setattr(api, text, current)
            current.fields = parser.block(1)
        elif text.startswith("struct "):
            if current is None:
                raise SchemaError(f"{where}: 'struct' must follow a request or response section")
            current.common.append(Struct(text.split()[1], parser.block(1)))
        else:
            raise SchemaError(f"{where}: expected 'request', 'response' or 'struct <Name>'")
    if api.request is None or api.response is None:
        raise SchemaError(f"{path}: needs both a request and a response section")
    return api


def parse_record_schema(path):
    """A record schema: 'record <Name> type=<n>|control=<n> versions=<range> flexible=<range>',
    the record's fields indented below it, then any common structs."""
    stem = os.path.splitext(os.path.basename(path))[0]
    lines = read_schema_lines(path)
    usage = "record <Name> type=<n>|control=<n> versions=<range> flexible=<range>"
    name, attrs = parse_head(lines, path, "record", usage)
    if ("type" in attrs) == ("control" in attrs):
        raise SchemaError(f"{path}: a record has exactly one of type=<n> (metadata) or control=<n>")
    if set(attrs) - {"type", "control", "versions", "flexible"}:
        raise SchemaError(f"{path}: unknown attributes on the record line")
    try:
        is_control = "control" in attrs
        key = int(attrs["control"] if is_control else attrs["type"])
        rec = RecordSchema(name, key, is_control, Range.parse(attrs["versions"], path),
                           Range.parse(attrs.get("flexible", "none"), path), stem)
    except KeyError as e:
        raise SchemaError(f"{path}: record line misses {e}")
    except ValueError:
        raise SchemaError(f"{path}: the record's type must be a number")
    if rec.valid.empty() or rec.valid.hi is None:
        raise SchemaError(f"{path}: versions must be a closed range")
    if snake(name) != stem:
        raise SchemaError(f"{path}: file name must be {snake(name)}.gs")
    msg = Message(rec, "record")
    rec.record = msg
    parser = BlockParser(lines, 1)
    msg.fields = parser.block(1)
    while parser.pos < len(lines):
        indent, text, where = lines[parser.pos]
        parser.pos += 1
        if indent != 0 or not text.startswith("struct "):
            raise SchemaError(f"{where}: expected 'struct <Name>'")
        msg.common.append(Struct(text.split()[1], parser.block(1)))
    collect_structs(msg)  # checks names, tags and types now
    return rec


# ---------------------------------------------------------------------------------------------
# Analysis


def collect_structs(msg):
    """All struct types of a message, dependencies first; checks names are unique."""
    defs = {}
    for s in msg.common:
        defs[s.name] = s
    order = []
    seen = set()

    def visit_fields(fields, where):
        for f in fields:
            if f.is_struct:
                if f.children is not None:
                    if f.base in defs and defs[f.base].fields is not f.children:
                        raise SchemaError(f"{f.where}: struct {f.base} defined twice")
                    defs[f.base] = defs.get(f.base) or Struct(f.base, f.children)
                elif f.base not in defs:
                    raise SchemaError(f"{f.where}: unknown type {f.base}")
                visit(defs[f.base])

    def visit(s):
        if s.name in seen:
            return
        seen.add(s.name)
        visit_fields(s.fields, s.name)
        order.append(s)

    # First register inline definitions so that forward references to them resolve.
    def register(fields):
        for f in fields:
            if f.is_struct and f.children is not None:
                if f.base in defs and defs[f.base].fields is not f.children:
                    raise SchemaError(f"{f.where}: struct {f.base} defined twice")
                defs[f.base] = Struct(f.base, f.children)
                register(f.children)

    register(msg.fields)
    for s in msg.common:
        register(s.fields)
    visit_fields(msg.fields, msg.cpp)
    for f in all_fields(msg.fields, defs):
        if f.tag is not None:
            pass
    check_fields(msg.fields, msg, defs)
    for s in order:
        check_fields(s.fields, msg, defs)
    return order, defs


def all_fields(fields, defs):
    return list(fields)


def check_fields(fields, msg, defs):
    tags = {}
    names = set()
    for f in fields:
        if f.member in names:
            raise SchemaError(f"{f.where}: duplicate field {f.name}")
        names.add(f.member)
        if f.tag is not None:
            if msg.api.flexible.empty():
                raise SchemaError(f"{f.where}: tagged field in an API without flexible versions")
            if f.tag in tags:
                raise SchemaError(f"{f.where}: tag {f.tag} used twice")
            tags[f.tag] = f
            if f.tagged.lo < msg.api.flexible.lo:
                raise SchemaError(f"{f.where}: tagged in a non-flexible version")


# ---------------------------------------------------------------------------------------------
# C++ emission helpers


def struct_ref(msg, name):
    return f"struct {msg.cpp}::{snake(name)}"


def elem_cpp(f, msg, inside):
    if f.base in PRIMITIVES:
        return PRIMITIVES[f.base][0]
    if f.base == "string":
        return "std::string"
    if f.base == "bytes":
        return "std::vector<uint8_t>"
    if f.base == "records":
        return "std::span<const uint8_t>"
    return f"struct {snake(f.base)}" if inside else struct_ref(msg, f.base)


def field_cpp(f, msg, inside=True):
    t = elem_cpp(f, msg, inside)
    if f.is_array:
        t = f"std::vector<{t}>"
    if f.any_nullable:
        t = f"std::optional<{t}>"
    return t


def int_literal(value, base):
    v = int(value, 0)
    bits = INT_BITS[base]
    ctype = PRIMITIVES[base][0]
    if base.startswith("uint"):
        if v < 0 or v >= (1 << bits):
            raise SchemaError(f"default {value} out of range for {base}")
    else:
        if v < -(1 << (bits - 1)) or v >= (1 << (bits - 1)):
            raise SchemaError(f"default {value} out of range for {base}")
        if v == -(1 << (bits - 1)):
            return f"std::numeric_limits<{ctype}>::min()"
    if base == "int64":
        return f"{v}LL" if v >= 0 else f"({v + 1}LL - 1)"
    return str(v)


def default_init(f):
    """The member initializer (without braces/equals), or None for value-initialization."""
    d = f.default
    if f.is_array or f.is_struct:
        if d not in (None, "null"):
            raise SchemaError(f"{f.where}: arrays and structs only take default=null")
        return None
    if d is None:
        if f.base in INT_BITS:
            return "0"
        if f.base == "bool":
            return "false"
        if f.base == "float64":
            return "0.0"
        return None
    if d == "null":
        if f.nullable.empty() and f.base != "records":
            raise SchemaError(f"{f.where}: default=null on a non-nullable field")
        return None
    if f.base in INT_BITS:
        return int_literal(d, f.base)
    if f.base == "bool":
        if d not in ("true", "false"):
            raise SchemaError(f"{f.where}: bool default must be true or false")
        return d
    if f.base == "float64":
        return repr(float(d))
    if f.base == "string":
        if d.startswith('"'):
            d = d[1:-1]
        if d == "":
            return '""' if f.any_nullable else None
        return '"' + d.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise SchemaError(f"{f.where}: no defaults for {f.base}")


def member_decl(f, msg):
    init = default_init(f)
    t = field_cpp(f, msg, inside=True)
    if init is None:
        return f"{t} {f.member};"
    if f.any_nullable and f.base == "string":
        return f"{t} {f.member} = std::string({init});"
    return f"{t} {f.member} = {init};"


class Emitter:
    def __init__(self):
        self.lines = []
        self.depth = 0

    def __call__(self, text=""):
        self.lines.append(("  " * self.depth + text) if text else "")

    def indent(self):
        self.depth += 1

    def dedent(self):
        self.depth -= 1

    def text(self):
        return "\n".join(self.lines) + "\n"


def nullable_cond(f):
    n, v = f.nullable, f.versions
    if f.base == "records" and n.empty():
        return "false"
    if not n.empty() and n.lo <= v.lo and (n.hi is None or (v.hi is not None and n.hi >= v.hi)):
        return "true"
    return n.cond()


# Encoding of one value (not an array) of field f, held in expression `x` (already unwrapped from
# an optional unless the field is nullable-as-a-whole), to writer `w`.
def emit_write_value(e, f, msg, x, w, elem):
    """elem: True when writing an array element (never null)."""
    b = f.base
    if b in PRIMITIVES:
        e(f"{w}.write_{PRIMITIVES[b][1]}({x});")
    elif b == "string":
        e(f"{w}.write_string({x}, flexible);")
    elif b in ("bytes", "records"):
        e(f"{w}.write_bytes({x}, flexible);")
    else:
        e(f"encode_{snake(b)}({x}, {w}, version);")


def emit_write_field(e, f, msg, obj, w):
    x = f"{obj}.{f.member}"
    if f.is_array:
        if f.any_nullable:
            e(f"if (!{x}.has_value()) {{")
            e(f"  if ({nullable_cond(f)}) {w}.write_array_length(-1, flexible);")
            e(f"  else {w}.write_array_length(0, flexible);")
            e("} else {")
            e.indent()
            arr = f"(*{x})"
        else:
            arr = x
        e(f"{w}.write_array_length(static_cast<int32_t>({arr}.size()), flexible);")
        e(f"for (const auto& el : {arr}) {{")
        e.indent()
        emit_write_value(e, f, msg, "el", w, True)
        e.dedent()
        e("}")
        if f.any_nullable:
            e.dedent()
            e("}")
        return
    b = f.base
    if f.any_nullable:
        if b == "string":
            e(f"if ({nullable_cond(f)}) {w}.write_nullable_string({x}, flexible);")
            e(f"else {w}.write_string({x} ? std::string_view(*{x}) : std::string_view(), flexible);")
        elif b in ("bytes", "records"):
            e(f"if ({nullable_cond(f)}) {w}.write_nullable_bytes({x}, flexible);")
            e(f"else if ({x}) {w}.write_bytes(*{x}, flexible);")
            e(f"else {w}.write_bytes(std::span<const uint8_t>(), flexible);")
        else:  # nullable struct: int8 presence marker, -1 = null
            e(f"if ({nullable_cond(f)}) {{")
            e(f"  {w}.write_int8({x} ? 1 : -1);")
            e(f"  if ({x}) encode_{snake(b)}(*{x}, {w}, version);")
            e(f"}} else {{")
            e(f"  encode_{snake(b)}({x} ? *{x} : typename std::remove_cvref_t<decltype({x})>::value_type{{}}, {w}, version);")
            e("}")
        return
    emit_write_value(e, f, msg, x, w, False)


def min_elem_size(f):
    b = f.base
    if b in PRIMITIVES:
        return PRIMITIVES[b][2]
    return 1


def emit_read_value(e, f, msg, target, r):
    b = f.base
    if b in PRIMITIVES:
        e(f"{target} = {r}.read_{PRIMITIVES[b][1]}();")
    elif b == "string":
        e(f"{target} = {r}.read_string(flexible);")
    elif b == "bytes":
        e(f"{target} = {r}.read_bytes(flexible);")
    elif b == "records":
        e(f"{target} = {r}.read_nullable_bytes_view(flexible).value_or(std::span<const uint8_t>());")
    else:
        e(f"decode_{snake(b)}({target}, {r}, version);")


def emit_read_field(e, f, msg, obj, r):
    x = f"{obj}.{f.member}"
    if f.is_array:
        e("{")
        e.indent()
        e(f"int32_t n = {r}.read_array_length(flexible, {min_elem_size(f)});")
        if f.any_nullable:
            e(f"if (n < 0 && !({nullable_cond(f)})) {r}.fail(\"non-nullable array {f.name} is null\");")
            e(f"if (n < 0) {{")
            e(f"  {x}.reset();")
            e("} else {")
            e.indent()
            arr = f"{x}.emplace()"
            e(f"auto& arr = {arr};")
        else:
            e(f"if (n < 0) {r}.fail(\"non-nullable array {f.name} is null\");")
            e(f"auto& arr = {x};")
            e("arr.clear();")
        e(f"if (n > 0) arr.resize(static_cast<size_t>(n));")
        e(f"for (auto& el : arr) {{")
        e.indent()
        e(f"if (!{r}.ok()) break;")
        emit_read_value(e, f, msg, "el", r)
        e.dedent()
        e("}")
        if f.any_nullable:
            e.dedent()
            e("}")
        e.dedent()
        e("}")
        return
    b = f.base
    if f.any_nullable:
        if b == "string":
            e(f"if ({nullable_cond(f)}) {x} = {r}.read_nullable_string(flexible);")
            e(f"else {x} = {r}.read_string(flexible);")
        elif b == "bytes":
            e(f"if ({nullable_cond(f)}) {x} = {r}.read_nullable_bytes(flexible);")
            e(f"else {x} = {r}.read_bytes(flexible);")
        elif b == "records":
            e(f"{{")
            e(f"  size_t at = {r}.position();")
            e(f"  {x} = {r}.read_nullable_bytes_view(flexible);")
            e(f"  if (!{x} && {r}.ok() && !({nullable_cond(f)})) {r}.fail(\"non-nullable records are null at offset \" + std::to_string(at));")
            e(f"}}")
        else:
            e(f"if ({nullable_cond(f)}) {{")
            e(f"  int8_t present = {r}.read_int8();")
            e(f"  if (present < 0) {x}.reset();")
            # Assigning a value-initialised struct rather than emplace(): clang 14 (the fuzz build)
            # judges a nested struct with member initialisers not default-constructible here.
            e(f"  else decode_{snake(b)}(*({x} = std::decay_t<decltype(*{x})>{{}}), {r}, version);")
            e("} else {")
            e(f"  decode_{snake(b)}(*({x} = std::decay_t<decltype(*{x})>{{}}), {r}, version);")
            e("}")
        return
    emit_read_value(e, f, msg, x, r)


def nondefault_expr(f, msg, x):
    """C++ expression: is the tagged field's value different from its default?"""
    init = default_init(f)
    if f.base == "records":
        return f"{x}.has_value()"
    t = f"std::remove_cvref_t<decltype({x})>"
    if init is None:
        return f"!({x} == {t}{{}})"
    if f.any_nullable and f.base == "string":
        return f"!({x} == {t}(std::string({init})))"
    return f"!({x} == {t}({init}))"


def emit_struct_codec(e, msg, s_cpp_ref, fields, fn, flex_min):
    """Emits encode_<fn>/decode_<fn> for a struct whose fields are `fields`."""
    regular = [f for f in fields]
    tagged = sorted([f for f in fields if f.tag is not None], key=lambda f: f.tag)

    # encode
    e(f"template <class W>")
    e(f"void encode_{fn}(const {s_cpp_ref}& m, W& w, int16_t version) {{")
    e.indent()
    e(f"const bool flexible = version >= {flex_min};")
    e("(void)flexible;")
    for f in regular:
        rr = f.regular_range()
        if rr.empty():
            continue
        c = rr.cond()
        if c == "true":
            emit_write_field(e, f, msg, "m", "w")
        else:
            e(f"if ({c}) {{")
            e.indent()
            emit_write_field(e, f, msg, "m", "w")
            e.dedent()
            e("}")
    e("if (flexible) {")
    e.indent()
    e("uint32_t tag_count = static_cast<uint32_t>(m.unknown_tagged_fields.size());")
    for f in tagged:
        e(f"const bool has_{f.member} = ({f.tagged.cond()}) && {nondefault_expr(f, msg, 'm.' + f.member)};")
        e(f"if (has_{f.member}) ++tag_count;")
    e("w.write_unsigned_varint(tag_count);")
    for f in tagged:
        e(f"if (has_{f.member}) {{")
        e.indent()
        e(f"w.write_unsigned_varint({f.tag});")
        e("size_counter sc;")
        emit_write_field(e, f, msg, "m", "sc")
        e("w.write_unsigned_varint(static_cast<uint32_t>(sc.size()));")
        emit_write_field(e, f, msg, "m", "w")
        e.dedent()
        e("}")
    e("for (const auto& t : m.unknown_tagged_fields) {")
    e("  w.write_unsigned_varint(t.tag);")
    e("  w.write_unsigned_varint(static_cast<uint32_t>(t.data.size()));")
    e("  w.write_raw(t.data);")
    e("}")
    e.dedent()
    e("}")
    e.dedent()
    e("}")
    e()

    # decode
    e(f"void decode_{fn}({s_cpp_ref}& m, reader& r, int16_t version) {{")
    e.indent()
    e(f"const bool flexible = version >= {flex_min};")
    e("(void)flexible;")
    for f in regular:
        rr = f.regular_range()
        if rr.empty():
            continue
        c = rr.cond()
        if c == "true":
            emit_read_field(e, f, msg, "m", "r")
        else:
            e(f"if ({c}) {{")
            e.indent()
            emit_read_field(e, f, msg, "m", "r")
            e.dedent()
            e("}")
    e("m.unknown_tagged_fields.clear();")
    e("if (flexible && r.ok()) {")
    e.indent()
    e("uint32_t tag_count = r.read_unsigned_varint();")
    e("for (uint32_t i = 0; i < tag_count && r.ok(); ++i) {")
    e.indent()
    e("uint32_t tag = r.read_unsigned_varint();")
    e("uint32_t size = r.read_unsigned_varint();")
    e("auto body = r.read_raw(size);")
    e("if (!r.ok()) break;")
    if tagged:
        e("switch (tag) {")
        for f in tagged:
            e(f"  case {f.tag}:")
            e(f"    if ({f.tagged.cond()}) {{")
            e.indent()
            e.indent()
            e.indent()
            e("reader sub(body);")
            emit_read_field(e, f, msg, "m", "sub")
            e(f"if (!sub.ok()) r.fail(\"tagged field {f.name} (tag {f.tag}): \" + sub.error());")
            e("else if (sub.remaining() != 0) r.fail(\"tagged field " + f.name + " has trailing bytes\");")
            e("continue;")
            e.dedent()
            e.dedent()
            e.dedent()
            e("    }")
            e("    break;")
        e("  default:")
        e("    break;")
        e("}")
    e("m.unknown_tagged_fields.push_back({tag, std::vector<uint8_t>(body.begin(), body.end())});")
    e.dedent()
    e("}")
    e.dedent()
    e("}")
    e.dedent()
    e("}")
    e()


def eq_expr(f, a, b):
    if f.base == "records":
        return f"detail::records_equal({a}.{f.member}, {b}.{f.member})"
    return f"{a}.{f.member} == {b}.{f.member}"


def emit_struct_decl(e, msg, name_cpp, fields):
    e(f"struct {name_cpp} {{")
    e.indent()
    for f in fields:
        e(member_decl(f, msg))
    e("std::vector<tagged_field> unknown_tagged_fields;")
    e()
    # `struct` keeps the type visible when a member has the struct's own name
    # (DescribeTransactions' TransactionState.TransactionState).
    e(f"friend bool operator==(const struct {name_cpp}& a, const struct {name_cpp}& b) {{")
    conds = [eq_expr(f, "a", "b") for f in fields] + ["a.unknown_tagged_fields == b.unknown_tagged_fields"]
    e("  return " + " &&\n         ".join(conds) + ";")
    e("}")
    e.dedent()
    e("};")


def is_error_code_field(f):
    return f.base == "int16" and not f.is_array and f.name.endswith("ErrorCode")


def struct_has_error_code(s, defs, stack=()):
    if s.name in stack:
        raise SchemaError(f"struct {s.name} contains itself")
    for f in s.fields:
        if is_error_code_field(f):
            return True
        if f.is_struct and struct_has_error_code(defs[f.base], defs, stack + (s.name,)):
            return True
    return False


def emit_visit_fields(e, fields, defs, obj, depth, stack):
    """Emits calls of fn on every error code field reachable from `fields` of object `obj`."""
    for f in fields:
        if is_error_code_field(f):
            target, nested = f"{obj}{f.member}", None
        elif f.is_struct and struct_has_error_code(defs[f.base], defs, stack):
            target, nested = None, defs[f.base]
        else:
            continue
        cond = f.versions.cond()
        opened = 0
        if cond != "true":
            e(f"if ({cond}) {{")
            e.indent()
            opened += 1
        if nested is None:
            e(f"fn({target});")
        else:
            x = f"{obj}{f.member}"
            if f.any_nullable:
                e(f"if ({x}) {{")
                e.indent()
                opened += 1
                x = f"(*{x})"
            if f.is_array:
                var = f"x{depth}"
                e(f"for (const auto& {var} : {x}) {{")
                e.indent()
                opened += 1
                x = var
            emit_visit_fields(e, nested.fields, defs, f"{x}.", depth + 1, stack + (nested.name,))
        for _ in range(opened):
            e.dedent()
            e("}")


def emit_error_code_visitor(e, msg):
    """for_each_error_code: every error code (ErrorCode, TopicConfigErrorCode, ...) the version carries."""
    _, defs = collect_structs(msg)
    e("// Calls fn(int16_t) with every error code field (ErrorCode, ...ErrorCode) this version carries,")
    e("// top level and nested (per topic, partition, resource), zeros included.")
    e("template <class F>")
    e("void for_each_error_code([[maybe_unused]] int16_t version, [[maybe_unused]] F&& fn) const {")
    e.indent()
    emit_visit_fields(e, msg.fields, defs, "", 0, ())
    e.dedent()
    e("}")


def generate_header(api):
    e = Emitter()
    e("#pragma once")
    e(f"// Generated by src/protocol/gen/gen.py from src/protocol/schema/{api.file_stem}.gs. Do not edit.")
    e(f"// Kafka API {api.name} (key {api.key}), versions {api.valid.lo}-{api.valid.hi}, "
      f"flexible from {'none' if api.flexible.empty() else api.flexible.lo}.")
    e("// Decoded \"records\" fields are views into the buffer given to the reader; keep it alive.")
    e("#include <cstdint>")
    e("#include <limits>")
    e("#include <optional>")
    e("#include <span>")
    e("#include <string>")
    e("#include <vector>")
    e()
    e('#include "gregor/base/types.h"')
    e('#include "gregor/protocol/wire.h"')
    e()
    e("namespace gregor::protocol {")
    for msg in (api.request, api.response):
        order, _ = collect_structs(msg)
        e()
        e(f"struct {msg.cpp} {{")
        e.indent()
        e(f"static constexpr int16_t api_key = {api.key};")
        e(f"static constexpr int16_t min_version = {api.valid.lo};")
        e(f"static constexpr int16_t max_version = {api.valid.hi};")
        e(f"static constexpr int16_t flexible_min = {api.flexible_min};")
        for s in order:
            e()
            emit_struct_decl(e, msg, s.cpp, s.fields)
        e()
        for f in msg.fields:
            e(member_decl(f, msg))
        e("std::vector<tagged_field> unknown_tagged_fields;")
        e()
        e("void encode(writer& w, int16_t version) const;")
        e("// Failures are sticky on r; check r.ok() afterwards.")
        e("void decode(reader& r, int16_t version);")
        e("size_t encoded_size(int16_t version) const;")
        emit_error_code_visitor(e, msg)
        e()
        e(f"friend bool operator==(const {msg.cpp}& a, const {msg.cpp}& b) {{")
        conds = [eq_expr(f, "a", "b") for f in msg.fields] + ["a.unknown_tagged_fields == b.unknown_tagged_fields"]
        e("  return " + " &&\n         ".join(conds) + ";")
        e("}")
        e.dedent()
        e("};")
    e()
    e("}  // namespace gregor::protocol")
    return e.text()


def generate_source(api):
    e = Emitter()
    e(f"// Generated by src/protocol/gen/gen.py from src/protocol/schema/{api.file_stem}.gs. Do not edit.")
    e(f'#include "gregor/protocol/messages/{api.file_stem}.h"')
    e()
    e("#include <string_view>")
    e("#include <type_traits>")
    e()
    e("namespace gregor::protocol {")
    e("namespace {")
    e()
    for msg in (api.request, api.response):
        order, _ = collect_structs(msg)
        # Declarations first so that structs can refer to each other in any order.
        for s in order:
            ref = struct_ref(msg, s.name)
            e(f"template <class W> void encode_{snake(s.name)}(const {ref}& m, W& w, int16_t version);")
            e(f"void decode_{snake(s.name)}({ref}& m, reader& r, int16_t version);")
        e()
        for s in order:
            emit_struct_codec(e, msg, struct_ref(msg, s.name), s.fields, snake(s.name), api.flexible_min)
        emit_struct_codec(e, msg, msg.cpp, msg.fields, msg.cpp, api.flexible_min)
    e("}  // namespace")
    for msg in (api.request, api.response):
        e()
        e(f"void {msg.cpp}::encode(writer& w, int16_t version) const {{ encode_{msg.cpp}(*this, w, version); }}")
        e(f"void {msg.cpp}::decode(reader& r, int16_t version) {{")
        e("  // Start from defaults so fields the version does not carry read as their defaults.")
        e(f"  *this = {msg.cpp}{{}};")
        e(f"  decode_{msg.cpp}(*this, r, version);")
        e("}")
        e(f"size_t {msg.cpp}::encoded_size(int16_t version) const {{")
        e("  size_counter sc;")
        e(f"  encode_{msg.cpp}(*this, sc, version);")
        e("  return sc.size();")
        e("}")
    e()
    e("}  // namespace gregor::protocol")
    # Codecs of different messages may share struct names; each message's codecs are in the
    # same anonymous namespace but overloads differ by parameter type, so no clash.
    return e.text()


def record_kind(rec):
    return "control record" if rec.is_control else "metadata record"


def generate_record_header(rec):
    msg = rec.record
    order, _ = collect_structs(msg)
    e = Emitter()
    e("#pragma once")
    e(f"// Generated by src/protocol/gen/gen.py from src/protocol/metadata_schema/{rec.file_stem}.gs. Do not edit.")
    flex = "none" if rec.flexible.empty() else rec.flexible.lo
    if rec.is_control:
        e(f"// Kafka KRaft control record {rec.name} (control record type {rec.key}), versions "
          f"{rec.valid.lo}-{rec.valid.hi}, flexible from {flex}.")
    else:
        e(f"// Kafka metadata record {rec.name} (record type {rec.key}), versions "
          f"{rec.valid.lo}-{rec.valid.hi}, flexible from {flex}.")
    e("#include <cstdint>")
    e("#include <limits>")
    e("#include <optional>")
    e("#include <span>")
    e("#include <string>")
    e("#include <vector>")
    e()
    e('#include "gregor/base/types.h"')
    e('#include "gregor/protocol/wire.h"')
    e()
    e("namespace gregor::protocol::metadata {")
    e()
    e(f"struct {msg.cpp} {{")
    e.indent()
    if rec.is_control:
        e(f"static constexpr int16_t control_type = {rec.key};")
    else:
        e(f"static constexpr int16_t api_key = {rec.key};")
    e(f"static constexpr int16_t min_version = {rec.valid.lo};")
    e(f"static constexpr int16_t max_version = {rec.valid.hi};")
    e(f"static constexpr int16_t flexible_min = {rec.flexible_min};")
    for st in order:
        e()
        emit_struct_decl(e, msg, st.cpp, st.fields)
    e()
    for f in msg.fields:
        e(member_decl(f, msg))
    e("std::vector<tagged_field> unknown_tagged_fields;")
    e()
    e("void encode(writer& w, int16_t version) const;")
    e("// Failures are sticky on r; check r.ok() afterwards.")
    e("void decode(reader& r, int16_t version);")
    e("size_t encoded_size(int16_t version) const;")
    e()
    e(f"friend bool operator==(const {msg.cpp}& a, const {msg.cpp}& b) {{")
    conds = [eq_expr(f, "a", "b") for f in msg.fields] + ["a.unknown_tagged_fields == b.unknown_tagged_fields"]
    e("  return " + " &&\n         ".join(conds) + ";")
    e("}")
    e.dedent()
    e("};")
    e()
    e("}  // namespace gregor::protocol::metadata")
    return e.text()


def generate_record_source(rec):
    msg = rec.record
    order, _ = collect_structs(msg)
    e = Emitter()
    e(f"// Generated by src/protocol/gen/gen.py from src/protocol/metadata_schema/{rec.file_stem}.gs. Do not edit.")
    e(f'#include "gregor/protocol/metadata/{rec.file_stem}.h"')
    e()
    e("#include <string_view>")
    e("#include <type_traits>")
    e()
    e("namespace gregor::protocol::metadata {")
    e("namespace {")
    e()
    for st in order:
        ref = struct_ref(msg, st.name)
        e(f"template <class W> void encode_{snake(st.name)}(const {ref}& m, W& w, int16_t version);")
        e(f"void decode_{snake(st.name)}({ref}& m, reader& r, int16_t version);")
    e()
    for st in order:
        emit_struct_codec(e, msg, struct_ref(msg, st.name), st.fields, snake(st.name), rec.flexible_min)
    emit_struct_codec(e, msg, msg.cpp, msg.fields, msg.cpp, rec.flexible_min)
    e("}  // namespace")
    e()
    e(f"void {msg.cpp}::encode(writer& w, int16_t version) const {{ encode_{msg.cpp}(*this, w, version); }}")
    e(f"void {msg.cpp}::decode(reader& r, int16_t version) {{")
    e("  // Start from defaults so fields the version does not carry read as their defaults.")
    e(f"  *this = {msg.cpp}{{}};")
    e(f"  decode_{msg.cpp}(*this, r, version);")
    e("}")
    e(f"size_t {msg.cpp}::encoded_size(int16_t version) const {{")
    e("  size_counter sc;")
    e(f"  encode_{msg.cpp}(*this, sc, version);")
    e("  return sc.size();")
    e("}")
    e()
    e("}  // namespace gregor::protocol::metadata")
    return e.text()


def generate_record_table_header(records):
    meta = sorted([r for r in records if not r.is_control], key=lambda r: r.key)
    ctrl = sorted([r for r in records if r.is_control], key=lambda r: r.key)
    e = Emitter()
    e("#pragma once")
    e("// Generated by src/protocol/gen/gen.py from src/protocol/metadata_schema/*.gs. Do not edit.")
    e("// Every metadata record and KRaft control record as one variant each, decoding by type, and")
    e("// the ApiMessageAndVersion framing of metadata log record values.")
    e("#include <array>")
    e("#include <cstdint>")
    e("#include <optional>")
    e("#include <span>")
    e("#include <variant>")
    e("#include <vector>")
    e()
    for r in meta + ctrl:
        e(f'#include "gregor/protocol/metadata/{r.file_stem}.h"')
    e('#include "gregor/protocol/wire.h"')
    e()
    e("namespace gregor::protocol::metadata {")
    e()
    e("// Every metadata record type, in record type order.")
    e("using any_record = std::variant<")
    e("    " + ",\n    ".join(r.record.cpp for r in meta) + ">;")
    e()
    e("// Every KRaft control record carrying a message body, in control record type order.")
    e("using any_control_record = std::variant<")
    e("    " + ",\n    ".join(r.record.cpp for r in ctrl) + ">;")
    e()
    e("// One row per record type: Kafka's name and the versions Kafka 4.3.1 reads and writes.")
    e("struct record_type_info {")
    e("  int16_t type;")
    e("  const char* name;")
    e("  int16_t min_version;")
    e("  int16_t max_version;")
    e("};")
    e()
    e("// Metadata record types (Kafka's MetadataRecordType), sorted by type.")
    e("std::span<const record_type_info> all_record_types();")
    e("const record_type_info* find_record_type(int16_t api_key);")
    e("// Control record types with a message body (LeaderChange and later), sorted by type.")
    e("std::span<const record_type_info> all_control_record_types();")
    e("const record_type_info* find_control_record_type(int16_t control_type);")
    e()
    e("int16_t api_key_of(const any_record& record);")
    e("int16_t control_type_of(const any_control_record& record);")
    e()
    e("// The body of a metadata record (no framing). The version must be in the record's range")
    e("// (asserted: choosing it is the caller's job).")
    e("void encode_record(writer& w, const any_record& record, int16_t version);")
    e("size_t encoded_record_size(const any_record& record, int16_t version);")
    e("// Decodes the body of a record of the given type and version. An unknown type or a version")
    e("// outside the type's range fails r; failures are sticky on r (nullopt when r is not ok).")
    e("std::optional<any_record> decode_record(int16_t api_key, int16_t version, reader& r);")
    e()
    e("// Control record values carry no version of their own: the version is agreed (Kafka 4.3.1")
    e("// writes and reads version 0 of each).")
    e("void encode_control_record(writer& w, const any_control_record& record, int16_t version);")
    e("size_t encoded_control_record_size(const any_control_record& record, int16_t version);")
    e("std::optional<any_control_record> decode_control_record(int16_t control_type, int16_t version, reader& r);")
    e()
    e("// The key of every control record (Kafka's ControlRecordType key): int16 key version (0), then")
    e("// int16 control type (0 abort and 1 commit markers, 2 and up the messages above).")
    e("inline constexpr int16_t control_record_key_version = 0;")
    e("std::array<uint8_t, 4> encode_control_record_key(int16_t control_type);")
    e("// The control type in a control record key; nullopt for a key shorter than 4 bytes or with a")
    e("// negative key version (Kafka refuses both). Later key versions are read like version 0.")
    e("std::optional<int16_t> decode_control_record_key(std::span<const uint8_t> key);")
    e()
    e("// A metadata log record value as Kafka frames it (ApiMessageAndVersion through")
    e("// MetadataRecordSerde): unsigned varint frame version (1), unsigned varint record type,")
    e("// unsigned varint record version, then the record's body.")
    e("struct api_message_and_version {")
    e("  any_record message;")
    e("  int16_t version = 0;")
    e()
    e("  friend bool operator==(const api_message_and_version&, const api_message_and_version&) = default;")
    e("};")
    e()
    e("inline constexpr uint32_t api_message_and_version_frame_version = 1;")
    e()
    e("void encode_api_message_and_version(writer& w, const any_record& record, int16_t version);")
    e("std::vector<uint8_t> encode_api_message_and_version(const any_record& record, int16_t version);")
    e("size_t api_message_and_version_size(const any_record& record, int16_t version);")
    e("// Decodes one framed record from r, leaving r after it. Fails r on another frame version, an")
    e("// unknown record type, a version outside the type's range, or a malformed body.")
    e("std::optional<api_message_and_version> decode_api_message_and_version(reader& r);")
    e("// Decodes a whole record value: like the above, and bytes after the record fail it too.")
    e("// On failure, error (when given) says why.")
    e("std::optional<api_message_and_version> decode_api_message_and_version(")
    e("    std::span<const uint8_t> value, std::string* error = nullptr);")
    e()
    e("}  // namespace gregor::protocol::metadata")
    return e.text()


def emit_variant_table(e, name, recs):
    e(f"constexpr record_type_info {name}[] = {{")
    for r in recs:
        e(f'    {{{r.key}, "{r.name}", {r.valid.lo}, {r.valid.hi}}},')
    e("};")


def generate_record_table_source(records):
    meta = sorted([r for r in records if not r.is_control], key=lambda r: r.key)
    ctrl = sorted([r for r in records if r.is_control], key=lambda r: r.key)
    e = Emitter()
    e("// Generated by src/protocol/gen/gen.py from src/protocol/metadata_schema/*.gs. Do not edit.")
    e('#include "gregor/protocol/metadata/all_records.h"')
    e()
    e("#include <algorithm>")
    e("#include <limits>")
    e("#include <string>")
    e()
    e('#include "gregor/base/assert.h"')
    e()
    e("namespace gregor::protocol::metadata {")
    e("namespace {")
    emit_variant_table(e, "record_types", meta)
    emit_variant_table(e, "control_record_types", ctrl)
    e()
    e("const record_type_info* find_in(std::span<const record_type_info> table, int16_t type) {")
    e("  auto it = std::lower_bound(table.begin(), table.end(), type,")
    e("                             [](const record_type_info& a, int16_t k) { return a.type < k; });")
    e("  return it != table.end() && it->type == type ? &*it : nullptr;")
    e("}")
    e()
    e("template <class Variant>")
    e("void encode_any(writer& w, const Variant& record, int16_t version) {")
    e("  std::visit(")
    e("      [&](const auto& m) {")
    e("        using M = std::remove_cvref_t<decltype(m)>;")
    e("        GREGOR_ASSERT(version >= M::min_version);")
    e("        GREGOR_ASSERT(version <= M::max_version);")
    e("        m.encode(w, version);")
    e("      },")
    e("      record);")
    e("}")
    e()
    e("template <class Variant>")
    e("size_t size_any(const Variant& record, int16_t version) {")
    e("  return std::visit([&](const auto& m) { return m.encoded_size(version); }, record);")
    e("}")
    e()
    e("template <class M, class Variant>")
    e("std::optional<Variant> decode_as(int16_t version, reader& r) {")
    e("  if (version < M::min_version || version > M::max_version) {")
    e('    r.fail("unsupported record version " + std::to_string(version));')
    e("    return std::nullopt;")
    e("  }")
    e("  M m;")
    e("  m.decode(r, version);")
    e("  if (!r.ok()) return std::nullopt;")
    e("  return Variant(std::in_place_type<M>, std::move(m));")
    e("}")
    e("}  // namespace")
    e()
    e("std::span<const record_type_info> all_record_types() { return record_types; }")
    e("const record_type_info* find_record_type(int16_t api_key) { return find_in(record_types, api_key); }")
    e("std::span<const record_type_info> all_control_record_types() { return control_record_types; }")
    e("const record_type_info* find_control_record_type(int16_t control_type) {")
    e("  return find_in(control_record_types, control_type);")
    e("}")
    e()
    e("int16_t api_key_of(const any_record& record) {")
    e("  return std::visit([](const auto& m) { return std::remove_cvref_t<decltype(m)>::api_key; }, record);")
    e("}")
    e("int16_t control_type_of(const any_control_record& record) {")
    e("  return std::visit([](const auto& m) { return std::remove_cvref_t<decltype(m)>::control_type; }, record);")
    e("}")
    e()
    e("void encode_record(writer& w, const any_record& record, int16_t version) { encode_any(w, record, version); }")
    e("size_t encoded_record_size(const any_record& record, int16_t version) { return size_any(record, version); }")
    e("void encode_control_record(writer& w, const any_control_record& record, int16_t version) {")
    e("  encode_any(w, record, version);")
    e("}")
    e("size_t encoded_control_record_size(const any_control_record& record, int16_t version) {")
    e("  return size_any(record, version);")
    e("}")
    e()
    for fn, variant, recs, what in (("decode_record", "any_record", meta, "api_key"),
                                    ("decode_control_record", "any_control_record", ctrl, "control_type")):
        e(f"std::optional<{variant}> {fn}(int16_t {what}, int16_t version, reader& r) {{")
        e("  if (!r.ok()) return std::nullopt;")
        e(f"  switch ({what}) {{")
        for r in recs:
            e(f"    case {r.key}:")
            e(f"      return decode_as<{r.record.cpp}, {variant}>(version, r);")
        e("    default:")
        e(f'      r.fail("unknown {"control " if variant != "any_record" else ""}record type " + std::to_string({what}));')
        e("      return std::nullopt;")
        e("  }")
        e("}")
        e()
    e("std::array<uint8_t, 4> encode_control_record_key(int16_t control_type) {")
    e("  std::array<uint8_t, 4> key{};")
    e("  key[0] = static_cast<uint8_t>(static_cast<uint16_t>(control_record_key_version) >> 8);")
    e("  key[1] = static_cast<uint8_t>(control_record_key_version);")
    e("  key[2] = static_cast<uint8_t>(static_cast<uint16_t>(control_type) >> 8);")
    e("  key[3] = static_cast<uint8_t>(control_type);")
    e("  return key;")
    e("}")
    e()
    e("std::optional<int16_t> decode_control_record_key(std::span<const uint8_t> key) {")
    e("  if (key.size() < 4) return std::nullopt;")
    e("  reader r(key);")
    e("  int16_t key_version = r.read_int16();")
    e("  int16_t type = r.read_int16();")
    e("  if (!r.ok() || key_version < 0) return std::nullopt;")
    e("  return type;")
    e("}")
    e()
    e("void encode_api_message_and_version(writer& w, const any_record& record, int16_t version) {")
    e("  w.write_unsigned_varint(api_message_and_version_frame_version);")
    e("  w.write_unsigned_varint(static_cast<uint32_t>(api_key_of(record)));")
    e("  w.write_unsigned_varint(static_cast<uint32_t>(version));")
    e("  encode_record(w, record, version);")
    e("}")
    e()
    e("std::vector<uint8_t> encode_api_message_and_version(const any_record& record, int16_t version) {")
    e("  std::vector<uint8_t> out;")
    e("  out.reserve(api_message_and_version_size(record, version));")
    e("  writer w(out);")
    e("  encode_api_message_and_version(w, record, version);")
    e("  return out;")
    e("}")
    e()
    e("size_t api_message_and_version_size(const any_record& record, int16_t version) {")
    e("  size_counter sc;")
    e("  sc.write_unsigned_varint(api_message_and_version_frame_version);")
    e("  sc.write_unsigned_varint(static_cast<uint32_t>(api_key_of(record)));")
    e("  sc.write_unsigned_varint(static_cast<uint32_t>(version));")
    e("  return sc.size() + encoded_record_size(record, version);")
    e("}")
    e()
    e("std::optional<api_message_and_version> decode_api_message_and_version(reader& r) {")
    e("  uint32_t frame_version = r.read_unsigned_varint();")
    e("  uint32_t type = r.read_unsigned_varint();")
    e("  uint32_t version = r.read_unsigned_varint();")
    e("  if (!r.ok()) return std::nullopt;")
    e("  if (frame_version != api_message_and_version_frame_version) {")
    e('    r.fail("unsupported metadata record frame version " + std::to_string(frame_version));')
    e("    return std::nullopt;")
    e("  }")
    e("  if (type > static_cast<uint32_t>(std::numeric_limits<int16_t>::max()) ||")
    e("      version > static_cast<uint32_t>(std::numeric_limits<int16_t>::max())) {")
    e('    r.fail("metadata record type or version out of range");')
    e("    return std::nullopt;")
    e("  }")
    e("  auto record = decode_record(static_cast<int16_t>(type), static_cast<int16_t>(version), r);")
    e("  if (!record) return std::nullopt;")
    e("  return api_message_and_version{std::move(*record), static_cast<int16_t>(version)};")
    e("}")
    e()
    e("std::optional<api_message_and_version> decode_api_message_and_version(std::span<const uint8_t> value,")
    e("                                                                      std::string* error) {")
    e("  reader r(value);")
    e("  auto out = decode_api_message_and_version(r);")
    e("  if (out && r.remaining() != 0) {")
    e('    r.fail(std::to_string(r.remaining()) + " bytes after the metadata record");')
    e("    out.reset();")
    e("  }")
    e("  if (!out && error) *error = r.error();")
    e("  return out;")
    e("}")
    e()
    e("}  // namespace gregor::protocol::metadata")
    return e.text()


def generate_api_table(apis):
    e = Emitter()
    e("// Generated by src/protocol/gen/gen.py. Do not edit.")
    e('#include "gregor/protocol/api.h"')
    e()
    e("#include <algorithm>")
    e()
    e("namespace gregor::protocol {")
    e("namespace {")
    e("constexpr api_info apis[] = {")
    for api in sorted(apis, key=lambda a: a.key):
        e(f'    {{{api.key}, "{api.name}", {api.valid.lo}, {api.valid.hi}, {api.flexible_min}}},')
    e("};")
    e("}  // namespace")
    e()
    e("std::span<const api_info> all_apis() { return apis; }")
    e()
    e("const api_info* find_api(int16_t key) {")
    e("  auto it = std::lower_bound(std::begin(apis), std::end(apis), key,")
    e("                             [](const api_info& a, int16_t k) { return a.key < k; });")
    e("  return it != std::end(apis) && it->key == key ? &*it : nullptr;")
    e("}")
    e()
    e("}  // namespace gregor::protocol")
    return e.text()


def generate_all_messages_header(apis):
    e = Emitter()
    e("#pragma once")
    e("// Generated by src/protocol/gen/gen.py. Do not edit.")
    e("// Every API's request and response types, reachable from the api key at run time:")
    e("// visit_api_types(key, f) calls f.template operator()<Request, Response>() for that key and")
    e("// returns true, or returns false for a key no schema defines.")
    e("#include <cstdint>")
    e()
    for api in sorted(apis, key=lambda a: a.key):
        e(f'#include "gregor/protocol/messages/{api.file_stem}.h"')
    e()
    e("namespace gregor::protocol {")
    e()
    e("template <class F>")
    e("bool visit_api_types(int16_t key, F&& f) {")
    e("  switch (key) {")
    for api in sorted(apis, key=lambda a: a.key):
        e(f"    case {api.key}:")
        e(f"      f.template operator()<{api.request.cpp}, {api.response.cpp}>();")
        e("      return true;")
    e("    default:")
    e("      return false;")
    e("  }")
    e("}")
    e()
    e("}  // namespace gregor::protocol")
    return e.text()


# ---------------------------------------------------------------------------------------------
# Round-trip test generation: fill every field a version carries with a non-default value.


def emit_fill_value(e, f, msg, target, seed):
    b = f.base
    if b in INT_BITS:
        init = default_init(f)
        e(f"{target} = static_cast<{PRIMITIVES[b][0]}>({seed} % 100 + 7);")
        if init is not None:
            e(f"if ({target} == static_cast<{PRIMITIVES[b][0]}>({init})) {target} += 1;")
    elif b == "bool":
        init = default_init(f)
        e(f"{target} = {'false' if init == 'true' else 'true'};")
    elif b == "float64":
        e(f"{target} = 1.5 + {seed};")
    elif b == "uuid":
        e(f"{target} = uuid{{static_cast<uint64_t>({seed}) + 1, 0x0123456789abcdefULL}};")
    elif b == "string":
        e(f'{target} = "s" + std::to_string({seed});')
    elif b == "bytes":
        e(f"{target} = std::vector<uint8_t>{{1, 2, static_cast<uint8_t>({seed})}};")
    elif b == "records":
        e(f"{target} = std::span<const uint8_t>(test_records);")
    else:
        e(f"fill_{msg.cpp}_{snake(b)}({target}, version, {seed} + 1);")


def emit_fill_field(e, f, msg, obj):
    x = f"{obj}.{f.member}"
    if f.is_array:
        if f.any_nullable:
            e(f"{x}.emplace();")
            arr = f"(*{x})"
        else:
            arr = x
        e(f"{arr}.resize(2);")
        e(f"for (size_t i = 0; i < {arr}.size(); ++i) {{")
        e.indent()
        emit_fill_value(e, f, msg, f"{arr}[i]", "seed + static_cast<int>(i) * 3")
        e.dedent()
        e("}")
        return
    if f.any_nullable:
        if f.is_struct:
            e(f"{x}.emplace();")
            emit_fill_value(e, f, msg, f"*{x}", "seed")
        else:
            e(f"{x}.emplace();")
            emit_fill_value(e, f, msg, f"*{x}", "seed")
        return
    emit_fill_value(e, f, msg, x, "seed")


def emit_fill(e, msg, ref, fields, fn):
    e(f"[[maybe_unused]] void {fn}({ref}& m, int16_t version, int seed) {{")
    e.indent()
    for f in fields:
        c = f.versions.cond()
        e(f"if ({c}) {{")
        e.indent()
        emit_fill_field(e, f, msg, "m")
        e.dedent()
        e("}")
    e.dedent()
    e("}")


def generate_tests(apis, records=()):
    e = Emitter()
    e("// Generated by src/protocol/gen/gen.py. Do not edit.")
    e("// Proves that every generated message round-trips at every version: encode then decode gives")
    e("// back the same struct, and encoded_size matches the bytes written.")
    e("#include <gtest/gtest.h>")
    e()
    for api in apis:
        e(f'#include "gregor/protocol/messages/{api.file_stem}.h"')
    if records:
        e('#include "gregor/protocol/metadata/all_records.h"')
    e()
    e("namespace gregor::protocol {")
    e("namespace {")
    e("const uint8_t test_records[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};")
    e()
    e("template <class Msg>")
    e("void check_round_trip(const Msg& in, int16_t version, bool compare_structs) {")
    e("  std::vector<uint8_t> buf;")
    e("  writer w(buf);")
    e("  in.encode(w, version);")
    e("  ASSERT_EQ(in.encoded_size(version), buf.size()) << \"version \" << version;")
    e("  reader r(buf);")
    e("  Msg out;")
    e("  out.decode(r, version);")
    e("  ASSERT_TRUE(r.ok()) << \"version \" << version << \": \" << r.error();")
    e("  EXPECT_EQ(r.remaining(), 0u) << \"version \" << version;")
    e("  // A null where the version cannot carry null decodes as empty, so structs built with")
    e("  // defaults are compared through their re-encoding.")
    e("  if (compare_structs) {")
    e("    EXPECT_TRUE(in == out) << \"version \" << version;")
    e("  }")
    e("  std::vector<uint8_t> again;")
    e("  writer w2(again);")
    e("  out.encode(w2, version);")
    e("  EXPECT_EQ(buf, again) << \"version \" << version;")
    e("  // Truncation at every byte must fail cleanly.")
    e("  for (size_t cut = 0; cut < buf.size(); ++cut) {")
    e("    reader tr(std::span<const uint8_t>(buf.data(), cut));")
    e("    Msg t;")
    e("    t.decode(tr, version);")
    e("    EXPECT_FALSE(tr.ok()) << \"version \" << version << \" cut at \" << cut;")
    e("  }")
    e("}")
    e()
    for api in apis:
        for msg in (api.request, api.response):
            order, _ = collect_structs(msg)
            for s in order:
                e(f"void fill_{msg.cpp}_{s.cpp}({struct_ref(msg, s.name)}& m, int16_t version, int seed);")
            for s in order:
                emit_fill(e, msg, struct_ref(msg, s.name), s.fields, f"fill_{msg.cpp}_{s.cpp}")
            emit_fill(e, msg, msg.cpp, msg.fields, f"fill_{msg.cpp}")
            e()
    e("}  // namespace")
    e()
    for api in apis:
        for msg in (api.request, api.response):
            e(f"TEST(generated_round_trip, {msg.cpp}_round_trips_at_every_version) {{")
            e(f"  for (int16_t v = {msg.cpp}::min_version; v <= {msg.cpp}::max_version; ++v) {{")
            e(f"    {msg.cpp} empty;")
            e(f"    check_round_trip(empty, v, false);")
            e(f"    {msg.cpp} full;")
            e(f"    fill_{msg.cpp}(full, v, 11);")
            e(f"    check_round_trip(full, v, true);")
            e("  }")
            e("}")
            e()
    if records:
        emit_record_tests(e, records)
    e("}  // namespace gregor::protocol")
    return e.text()


def emit_record_tests(e, records):
    """Round trips of every record at every version, bare and through its framing."""
    e("namespace metadata {")
    e("namespace {")
    for rec in records:
        msg = rec.record
        order, _ = collect_structs(msg)
        for st in order:
            e(f"void fill_{msg.cpp}_{st.cpp}({struct_ref(msg, st.name)}& m, int16_t version, int seed);")
        for st in order:
            emit_fill(e, msg, struct_ref(msg, st.name), st.fields, f"fill_{msg.cpp}_{st.cpp}")
        emit_fill(e, msg, msg.cpp, msg.fields, f"fill_{msg.cpp}")
        e()
    e("}  // namespace")
    e()
    for rec in records:
        c = rec.record.cpp
        e(f"TEST(generated_round_trip, {c}_round_trips_at_every_version) {{")
        e(f"  for (int16_t v = {c}::min_version; v <= {c}::max_version; ++v) {{")
        e(f"    {c} empty;")
        e(f"    check_round_trip(empty, v, false);")
        e(f"    {c} full;")
        e(f"    fill_{c}(full, v, 11);")
        e(f"    check_round_trip(full, v, true);")
        e("  }")
        e("}")
        e()
        if rec.is_control:
            e(f"TEST(generated_round_trip, {c}_round_trips_as_a_control_record_at_every_version) {{")
            e(f"  for (int16_t v = {c}::min_version; v <= {c}::max_version; ++v) {{")
            e(f"    {c} full;")
            e(f"    fill_{c}(full, v, 11);")
            e("    std::vector<uint8_t> buf;")
            e("    writer w(buf);")
            e("    encode_control_record(w, full, v);")
            e("    EXPECT_EQ(buf.size(), encoded_control_record_size(full, v));")
            e("    reader r(buf);")
            e(f"    auto back = decode_control_record({c}::control_type, v, r);")
            e("    ASSERT_TRUE(back.has_value()) << r.error();")
            e(f"    EXPECT_EQ(control_type_of(*back), {c}::control_type);")
            e(f"    EXPECT_TRUE(std::get<{c}>(*back) == full) << \"version \" << v;")
            e("  }")
            e("}")
        else:
            e(f"TEST(generated_round_trip, {c}_round_trips_framed_at_every_version) {{")
            e(f"  for (int16_t v = {c}::min_version; v <= {c}::max_version; ++v) {{")
            e(f"    {c} full;")
            e(f"    fill_{c}(full, v, 11);")
            e("    auto bytes = encode_api_message_and_version(full, v);")
            e("    EXPECT_EQ(bytes.size(), api_message_and_version_size(full, v));")
            e("    std::string error;")
            e("    auto back = decode_api_message_and_version(bytes, &error);")
            e("    ASSERT_TRUE(back.has_value()) << error;")
            e("    EXPECT_EQ(back->version, v);")
            e(f"    EXPECT_EQ(api_key_of(back->message), {c}::api_key);")
            e(f"    EXPECT_TRUE(std::get<{c}>(back->message) == full) << \"version \" << v;")
            e("  }")
            e("}")
        e()
    e("}  // namespace metadata")



def write_if_changed(path, text):
    # Always rewrites: the build tool judges freshness by timestamps.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schema-dir", required=True)
    ap.add_argument("--record-schema-dir", help="metadata and control record schemas (record kind)")
    ap.add_argument("--include-out")
    ap.add_argument("--src-out")
    ap.add_argument("--tests-out")
    ap.add_argument("--list", action="store_true", help="print the schema stems and exit")
    args = ap.parse_args()
    files = sorted(f for f in os.listdir(args.schema_dir) if f.endswith(".gs"))
    record_files = []
    if args.record_schema_dir:
        record_files = sorted(f for f in os.listdir(args.record_schema_dir) if f.endswith(".gs"))
    if args.list:
        print(";".join(os.path.splitext(f)[0] for f in files))
        return 0
    try:
        apis = [parse_schema(os.path.join(args.schema_dir, f)) for f in files]
        keys = {}
        for a in apis:
            if a.key in keys:
                raise SchemaError(f"api key {a.key} used by {keys[a.key]} and {a.name}")
            keys[a.key] = a.name
        records = [parse_record_schema(os.path.join(args.record_schema_dir, f)) for f in record_files]
        record_keys = {}
        for r in records:
            k = (r.is_control, r.key)
            if k in record_keys:
                raise SchemaError(f"{record_kind(r)} type {r.key} used by {record_keys[k]} and {r.name}")
            record_keys[k] = r.name
        if args.include_out and args.src_out:
            for a in apis:
                write_if_changed(os.path.join(args.include_out, "gregor/protocol/messages", a.file_stem + ".h"),
                                 generate_header(a))
                write_if_changed(os.path.join(args.src_out, a.file_stem + ".cc"), generate_source(a))
            write_if_changed(os.path.join(args.src_out, "api_table.cc"), generate_api_table(apis))
            write_if_changed(os.path.join(args.include_out, "gregor/protocol/messages/all.h"),
                             generate_all_messages_header(apis))
            if args.record_schema_dir:
                meta_inc = os.path.join(args.include_out, "gregor/protocol/metadata")
                meta_src = os.path.join(args.src_out, "metadata")
                for r in records:
                    write_if_changed(os.path.join(meta_inc, r.file_stem + ".h"), generate_record_header(r))
                    write_if_changed(os.path.join(meta_src, r.file_stem + ".cc"), generate_record_source(r))
                write_if_changed(os.path.join(meta_inc, "all_records.h"), generate_record_table_header(records))
                write_if_changed(os.path.join(meta_src, "all_records.cc"), generate_record_table_source(records))
        if args.tests_out:
            write_if_changed(args.tests_out, generate_tests(apis, records))
    except SchemaError as err:
        print(f"gen.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
