#!/usr/bin/env python3
"""Compares every .gs schema (src/protocol/schema, src/protocol/metadata_schema) with Kafka's own
message definitions: field names and order, types, versions, nullable versions, tags, tagged
versions, defaults and the ignorable flag, within the versions the .gs file declares.

Usage: check_schemas_against_kafka.py [--kafka DIR] [--skip-doc]
  --kafka     directory holding message/ and metadata/ JSON (default /work/kafka-schemas/common)
  --skip-doc  do not report differences that change no decoded bytes (the ignorable flag, and a
              nullable string without default starting as null where Kafka starts it as "")
Exit status 1 when a difference is found. A manual tool: run it after adding or editing a schema.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "src", "protocol", "gen"))
import gen  # noqa: E402


def load_json(path):
    # Kafka's files carry // comment lines.
    with open(path, encoding="utf-8") as fh:
        text = "\n".join(l for l in fh.read().splitlines() if not l.strip().startswith("//"))
    return json.loads(text)


def rng(text):
    return gen.Range.parse(text, "json")


def same(a, b):
    return (a.empty() and b.empty()) or (a.lo, a.hi) == (b.lo, b.hi)


def norm_default(d, base):
    if d is None:
        return None
    if isinstance(d, bool):
        d = "true" if d else "false"
    d = str(d)
    if base in gen.INT_BITS:
        try:
            return int(d, 0)
        except ValueError:
            return d
    if base == "string" and d.startswith('"'):
        d = d[1:-1]
    return d


def defaults_equal(jd, gd, base, nullable):
    if jd == gd:
        return True
    if base in gen.INT_BITS and {jd, gd} <= {0, None}:
        return True
    if base == "bool" and {jd, gd} <= {"false", None}:
        return True
    # Kafka starts a string without a default as "", nullable or not; we start a nullable one
    # without default= as null (checked separately).
    if base == "string" and jd in ("", None) and (gd == "" or (gd is None and not nullable)):
        return True
    return False


class Checker:
    def __init__(self, skip_doc):
        self.skip_doc = skip_doc
        self.found = []

    def report(self, text, doc=False):
        if not (doc and self.skip_doc):
            self.found.append(text + (" (no effect on decoding)" if doc else ""))

    def fields(self, jfields, gfields, valid, where):
        live_j = [f for f in jfields if not rng(f["versions"]).intersect(valid).empty()]
        live_g = [f for f in gfields if not f.versions.intersect(valid).empty()]
        jn, gn = [f["name"] for f in live_j], [f.name for f in live_g]
        if [n.lower() for n in jn] != [n.lower() for n in gn]:
            self.report(f"{where}: fields {jn} vs {gn}")
        by_name = {f.name.lower(): f for f in gfields}
        for jf in live_j:
            g = by_name.get(jf["name"].lower())
            if g is None:
                continue
            w = f"{where}.{jf['name']}"
            jt = jf["type"]
            gt = ("[]" if g.is_array else "") + g.base
            if jt != gt:
                self.report(f"{w}: type {jt} vs {gt}")
            jv = rng(jf["versions"]).intersect(valid)
            if not same(jv, g.versions.intersect(valid)):
                self.report(f"{w}: versions {jf['versions']} vs {g.versions.lo}-{g.versions.hi}")
            jn_ = rng(jf.get("nullableVersions", "none")).intersect(jv)
            if not same(jn_, g.nullable.intersect(g.versions.intersect(valid))):
                self.report(f"{w}: nullable {jf.get('nullableVersions')} vs {g.nullable.lo}-{g.nullable.hi}")
            if jf.get("tag") != g.tag:
                self.report(f"{w}: tag {jf.get('tag')} vs {g.tag}")
            elif "tag" in jf:
                if not same(rng(jf["taggedVersions"]).intersect(valid), g.tagged.intersect(valid)):
                    self.report(f"{w}: tagged versions {jf['taggedVersions']}")
            base = jt[2:] if jt.startswith("[]") else jt
            jd, gd = norm_default(jf.get("default"), base), norm_default(g.default, base)
            nullable = "nullableVersions" in jf
            if base == "string" and nullable and jd in ("", None) and gd in (None, "null"):
                self.report(f'{w}: Kafka starts it as "", we start it as null', doc=True)
            elif not defaults_equal(jd, gd, base, nullable):
                self.report(f"{w}: default {jf.get('default')!r} vs {g.default!r}")
            if bool(jf.get("ignorable")) != g.ignorable:
                self.report(f"{w}: ignorable {bool(jf.get('ignorable'))} vs {g.ignorable}", doc=True)
            if "fields" in jf:
                self.fields(jf["fields"], g.children or [], valid, w)

    def message(self, doc, msg, valid, where):
        self.fields(doc["fields"], msg.fields, valid, where)
        jc = {s["name"]: s for s in doc.get("commonStructs", [])}
        _, gc = gen.collect_structs(msg)  # common structs and inline definitions alike
        for name in sorted(jc):
            if name not in gc:
                self.report(f"{where}: common struct {name} is missing")
                continue
            self.fields(jc[name]["fields"], gc[name].fields, valid, f"{where}/{name}")

    def head(self, doc, where, key, valid, flexible):
        if key is not None and doc.get("apiKey") != key:
            self.report(f"{where}: key {doc.get('apiKey')} vs {key}")
        if not same(rng(doc["validVersions"]), valid):
            self.report(f"{where}: versions {doc['validVersions']} vs {valid.lo}-{valid.hi}")
        if not same(rng(doc["flexibleVersions"]), flexible):
            self.report(f"{where}: flexible {doc['flexibleVersions']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kafka", default="/work/kafka-schemas/common")
    ap.add_argument("--skip-doc", action="store_true")
    args = ap.parse_args()
    c = Checker(args.skip_doc)
    schema_dir = os.path.join(ROOT, "src", "protocol", "schema")
    for f in sorted(os.listdir(schema_dir)):
        if not f.endswith(".gs"):
            continue
        api = gen.parse_schema(os.path.join(schema_dir, f))
        for kind, msg in (("Request", api.request), ("Response", api.response)):
            doc = load_json(os.path.join(args.kafka, "message", api.name + kind + ".json"))
            c.head(doc, f"{f} {kind.lower()}", api.key, api.valid, api.flexible)
            c.message(doc, msg, api.valid, f"{f} {kind.lower()}")
    record_dir = os.path.join(ROOT, "src", "protocol", "metadata_schema")
    for f in sorted(os.listdir(record_dir)):
        if not f.endswith(".gs"):
            continue
        rec = gen.parse_record_schema(os.path.join(record_dir, f))
        sub = "message" if rec.is_control else "metadata"
        doc = load_json(os.path.join(args.kafka, sub, rec.name + ".json"))
        c.head(doc, f, None if rec.is_control else rec.key, rec.valid, rec.flexible)
        c.message(doc, rec.record, rec.valid, f)
    for line in c.found:
        print(line)
    if not c.found:
        print("every schema matches Kafka's definitions")
    return 1 if c.found else 0


if __name__ == "__main__":
    sys.exit(main())
