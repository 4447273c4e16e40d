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
        return f"{self.api.file_stem}_{self.kind}"


class Api:
    def __init__(self, name, key, valid, flexible, file_stem):
        self.name, self.key, self.valid, self.flexible, self.file_stem = name, key, valid, flexible, file_stem
        self.request = None
        self.response = None

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


def parse_schema(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    with open(path, encoding="utf-8") as fh:
        raw_lines = fh.readlines()
    lines = []  # (indent, text, where)
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
    if not lines or not lines[0][1].startswith("api "):
        raise SchemaError(f"{path}: the first line must be 'api <Name> key=<n> versions=<range> flexible=<range>'")
    head = lines[0][1].split()
    attrs = dict(t.split("=", 1) for t in head[2:])
    try:
        api = Api(head[1], int(attrs["key"]), Range.parse(attrs["versions"], path),
                  Range.parse(attrs.get("flexible", "none"), path), stem)
    except KeyError as e:
        raise SchemaError(f"{path}: api line misses {e}")

    pos = 1
    current = None

    def parse_block(depth):
        nonlocal pos
        fields = []
        while pos < len(lines):
            indent, text, where = lines[pos]
            if indent < depth:
                break
            if indent > depth:
                raise SchemaError(f"{where}: unexpected indentation")
            pos += 1
            f = parse_field_line(text, where)
            if pos < len(lines) and lines[pos][0] > depth:
                f.children = parse_block(depth + 1)
                if not f.is_struct:
                    raise SchemaError(f"{where}: only struct types may have nested fields")
            fields.append(f)
        return fields

    while pos < len(lines):
        indent, text, where = lines[pos]
        if indent != 0:
            raise SchemaError(f"{where}: expected 'request', 'response' or 'struct <Name>'")
        pos += 1
        if text in ("request", "response"):
            current = Message(api, text)
            setattr(api, text, current)
            current.fields = parse_block(1)
        elif text.startswith("struct "):
            if current is None:
                raise SchemaError(f"{where}: 'struct' must follow a request or response section")
            current.common.append(Struct(text.split()[1], parse_block(1)))
        else:
            raise SchemaError(f"{where}: expected 'request', 'response' or 'struct <Name>'")
    if api.request is None or api.response is None:
        raise SchemaError(f"{path}: needs both a request and a response section")
    return api


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
            e(f"  else decode_{snake(b)}({x}.emplace(), {r}, version);")
            e("} else {")
            e(f"  decode_{snake(b)}({x}.emplace(), {r}, version);")
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
    e(f"friend bool operator==(const {name_cpp}& a, const {name_cpp}& b) {{")
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


def generate_tests(apis):
    e = Emitter()
    e("// Generated by src/protocol/gen/gen.py. Do not edit.")
    e("// Proves that every generated message round-trips at every version: encode then decode gives")
    e("// back the same struct, and encoded_size matches the bytes written.")
    e("#include <gtest/gtest.h>")
    e()
    for api in apis:
        e(f'#include "gregor/protocol/messages/{api.file_stem}.h"')
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
    e("}  // namespace gregor::protocol")
    return e.text()


def write_if_changed(path, text):
    # Always rewrites: the build tool judges freshness by timestamps.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schema-dir", required=True)
    ap.add_argument("--include-out")
    ap.add_argument("--src-out")
    ap.add_argument("--tests-out")
    ap.add_argument("--list", action="store_true", help="print the schema stems and exit")
    args = ap.parse_args()
    files = sorted(f for f in os.listdir(args.schema_dir) if f.endswith(".gs"))
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
        if args.include_out and args.src_out:
            for a in apis:
                write_if_changed(os.path.join(args.include_out, "gregor/protocol/messages", a.file_stem + ".h"),
                                 generate_header(a))
                write_if_changed(os.path.join(args.src_out, a.file_stem + ".cc"), generate_source(a))
            write_if_changed(os.path.join(args.src_out, "api_table.cc"), generate_api_table(apis))
        if args.tests_out:
            write_if_changed(args.tests_out, generate_tests(apis))
    except SchemaError as err:
        print(f"gen.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
