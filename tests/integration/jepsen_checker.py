"""The checker of test_cluster_jepsen.py: what the writers had acknowledged and what the consumer
group saw, against the final content of every partition and the replicas' bytes on disk.

Values are "<writer>-<seq>" (seq a decimal, increasing per writer). Every function is pure over its
inputs (no cluster access) except the on-disk helpers at the bottom, which read a node's log.dirs.
"""
from __future__ import annotations

import struct
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path


def split_value(value: bytes) -> tuple[str, int]:
    writer, _, seq = value.decode().rpartition("-")
    return writer, int(seq)


@dataclass
class verdict:
    """Counts of every violation, with a few examples each (empty lists: none)."""
    acked: dict[str, int] = field(default_factory=dict)              # per writer
    final_records: int = 0
    unacked_present: int = 0                                          # written, never acknowledged (allowed)
    lost: list = field(default_factory=list)                          # acked, not in the log at all
    moved: list = field(default_factory=list)                         # acked at o (or in p), found elsewhere
    acked_twice: list = field(default_factory=list)                   # one value acknowledged at two offsets
    duplicates: list = field(default_factory=list)                    # one value at two offsets
    reordered: list = field(default_factory=list)                     # a writer's seq not increasing
    foreign: list = field(default_factory=list)                       # a value no writer produced
    consumer_skips: list = field(default_factory=list)                # consumer jumped over records
    consumer_phantoms: list = field(default_factory=list)             # consumer saw what the log lacks
    lost_count: int = 0
    moved_count: int = 0
    duplicate_count: int = 0
    reorder_count: int = 0
    skip_count: int = 0
    phantom_count: int = 0

    def violations(self) -> dict[str, int]:
        return {"lost": self.lost_count, "moved": self.moved_count, "acked twice": len(self.acked_twice),
                "duplicates": self.duplicate_count, "reordered": self.reorder_count,
                "foreign values": len(self.foreign), "consumer skipped": self.skip_count,
                "consumer saw non-log records": self.phantom_count}

    def ok(self) -> bool:
        return not any(self.violations().values())

    def report(self) -> str:
        lines = [f"final log: {self.final_records} records; acknowledged per writer: {self.acked}; "
                 f"written but never acknowledged (ambiguous, allowed): {self.unacked_present}",
                 "violations: " + ", ".join(f"{k}={v}" for k, v in self.violations().items())]
        for name in ("lost", "moved", "acked_twice", "duplicates", "reordered", "foreign",
                     "consumer_skips", "consumer_phantoms"):
            examples = getattr(self, name)
            if examples:
                lines.append(f"  {name}, e.g. {examples[:8]}")
        return "\n".join(lines)


def check(acked: dict[str, list[tuple[int, int, bytes]]], log: dict[int, dict[int, bytes]],
          consumed: dict[int, list[tuple[int, bytes]]], writers: set[str]) -> verdict:
    """acked: writer -> [(partition, offset, value)]; log: partition -> {offset: value} (the whole
    partition as read after the run); consumed: partition -> [(offset, value)] in the order the
    consumer group delivered them (re-deliveries after a rebalance included)."""
    v = verdict()
    v.acked = {w: len(recs) for w, recs in acked.items()}
    where: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for p, records in log.items():
        for o, value in records.items():
            where[value].append((p, o))
    v.final_records = sum(len(r) for r in log.values())

    # Duplicates: one value at two offsets (idempotence must prevent it).
    for value, places in where.items():
        if len(places) > 1:
            v.duplicate_count += len(places) - 1
            v.duplicates.append((value, places))
        try:
            w, _ = split_value(value)
        except ValueError:
            w = None
        if w not in writers:
            v.foreign.append((value, places))

    # Every acknowledged record at the offset it was acknowledged with. An acknowledgement without
    # an offset (None) only says the record is in that partition: librdkafka's idempotent producer
    # acknowledges a request whose response it lost, once a later request of the same producer
    # succeeded (an "implicit ack"; the broker never said where the records went), and reports
    # the offset as unknown.
    acked_values: set[bytes] = set()
    for w, recs in acked.items():
        seen_at: dict[bytes, tuple[int, int | None]] = {}
        for p, o, value in recs:
            if value in seen_at and seen_at[value] != (p, o):
                v.acked_twice.append((value, seen_at[value], (p, o)))
            seen_at[value] = (p, o)
            acked_values.add(value)
            if o is None and any(wp == p for wp, _ in where.get(value, [])):
                continue
            if log.get(p, {}).get(o) == value:
                continue
            if where.get(value):
                v.moved_count += 1
                v.moved.append((value, (p, o), where[value], log.get(p, {}).get(o)))
            else:
                v.lost_count += 1
                v.lost.append((value, (p, o), log.get(p, {}).get(o)))
    v.unacked_present = sum(1 for value in where if value not in acked_values)

    # Per partition, per writer: sequence numbers increase with the offset.
    for p, records in log.items():
        last: dict[str, tuple[int, int]] = {}
        for o in sorted(records):
            try:
                w, seq = split_value(records[o])
            except ValueError:
                continue
            if w in last and seq <= last[w][1]:
                v.reorder_count += 1
                v.reordered.append((p, w, last[w], (o, seq)))
            last[w] = (o, seq)

    # The consumer group: everything it saw is in the log at that offset, and it never jumped over a
    # record (a jump is only allowed over offsets the log does not have).
    for p, seen in consumed.items():
        records = log.get(p, {})
        high = -1
        for o, value in seen:
            if records.get(o) != value:
                v.phantom_count += 1
                v.consumer_phantoms.append((p, o, value, records.get(o)))
            if o > high + 1:
                skipped = [x for x in range(high + 1, o) if x in records]
                if skipped:
                    v.skip_count += len(skipped)
                    v.consumer_skips.append((p, high, o, len(skipped)))
            high = max(high, o)
    return v


# ---- the replicas' bytes on disk (Kafka's layout: <log.dirs>/<topic>-<partition>/<base offset>.log)

def segment_files(log_dir: Path, topic: str, partition: int) -> list[Path]:
    """The partition's segment files in offset order (file names are the zero-padded base offset)."""
    d = Path(log_dir) / f"{topic}-{partition}"
    return sorted(d.glob("*.log"), key=lambda f: int(f.stem))


def partition_bytes(log_dir: Path, topic: str, partition: int) -> bytes:
    """Every segment file of the partition concatenated in offset order."""
    return b"".join(f.read_bytes() for f in segment_files(log_dir, topic, partition))


def next_offset_on_disk(log_dir: Path, topic: str, partition: int) -> int:
    """The offset after the last complete record batch in the partition's segments (walking the
    batch headers: baseOffset int64, batchLength int32, ..., lastOffsetDelta int32 at byte 23), so
    zero padding or a torn tail past the last batch does not count."""
    end = 0
    for f in segment_files(log_dir, topic, partition):
        data = f.read_bytes()
        pos = 0
        while pos + 27 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if length < 14 or pos + 12 + length > len(data):
                break
            (delta,) = struct.unpack_from(">i", data, pos + 23)
            end = base + delta + 1
            pos += 12 + length
    return end


def first_difference(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def summary_by(values, key=lambda x: x) -> str:
    c = Counter(key(x) for x in values)
    return ", ".join(f"{k}={c[k]}" for k in sorted(c))
