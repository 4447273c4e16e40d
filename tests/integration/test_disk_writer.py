"""Proves that a stalled device delays only the requests that wait on it (issue 16): with the log
directory on a FUSE file system whose writes to one partition are held (gated_fs.py), a Produce to
that partition stays unanswered while other connections get ApiVersions, Metadata and a Fetch of
what was written before answered (with writes on the io thread, all of them waited for the device);
once the device moves again the held Produce is acknowledged and every record reads back. (Appends
to other partitions of the same log directory wait too: one disk thread writes a directory, as a
stalled device stalls every file on it.)

The second test holds the device's flushes instead: a topic with flush.messages=1 (Kafka's
per-append flush) gets its fdatasync from the disk writer, not the io thread, so the Produce
waits for its flush while the rest of the broker answers; the record becomes visible (the high
watermark) only once flushed, as Kafka raises it after its synchronous flush.

The third test holds the device's reads: a consumer's Fetch of records no longer in memory (no tail
cache, page cache dropped) waits for its read in the background (segment::prepare_read), while other
connections get ApiVersions, Metadata and a Fetch of another topic answered; once the device
moves, the held Fetch gets every record.

Runs against Gregor only: it mounts a file system under the broker's log directory."""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import clients
import harness
import kafka_wire as kw
from test_ops import metrics

pytestmark = pytest.mark.gregor_only

HERE = Path(__file__).resolve().parent


def _fuse_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to mount FUSE"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    try:
        import fusepy  # noqa: F401
    except ImportError:
        return "python3-fusepy is not installed (tools/setup.sh installs it)"
    return None


class _mounted:
    """gated_fs.py serving `backing` at `mount` until closed."""

    def __init__(self, backing: Path, mount: Path, gate: Path, log: Path):
        self.mount = mount
        self.log = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, str(HERE / "gated_fs.py"), str(backing), str(mount), str(gate)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        harness.wait_until(lambda: os.path.ismount(mount) or self.proc.poll() is not None, timeout_s=60,
                           what=f"gated_fs.py mounting {mount}")
        assert self.proc.poll() is None, f"gated_fs.py exited: {log.read_text()}"

    def close(self) -> None:
        # fusermount comes with the fuse package; as root, umount does the same (libfuse mounts
        # without it).
        unmount = ["fusermount", "-u", "-z"] if shutil.which("fusermount") else ["umount", "-l"]
        subprocess.run(unmount + [str(self.mount)], check=False)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _records(value: bytes) -> bytes:
    return kw.record_batch(kw.encode_record(0, None, value), 1)


class _gated_broker:
    """A started broker whose log directory is a gated_fs.py mount (skips without FUSE). Yields
    (broker, gate file, gated_fs.py's log); on the way out opens the gate, kills the broker and
    unmounts."""

    def __init__(self, tmp_path: Path, name: str, extra_sets: dict[str, str] | None = None):
        why = _fuse_usable()
        if why:
            pytest.skip(why)
        self.g = harness.gregor_process(tmp_path / name, extra_sets=extra_sets)
        self.backing = tmp_path / "backing"
        self.gate = tmp_path / "gate"
        self.fs_log = tmp_path / "gated_fs.log"

    def __enter__(self):
        self.backing.mkdir()
        self.fs = _mounted(self.backing, self.g.log_dir, self.gate, self.fs_log)
        try:
            self.g.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.g, self.gate, self.fs_log

    def __exit__(self, *exc) -> None:
        if self.gate.exists():
            self.gate.unlink()
        self.g.kill()
        self.fs.close()
        shutil.rmtree(self.backing, ignore_errors=True)


def _held_produce_scenario(tmp_path, topic_prefix: str, topic_config: dict, gate_text, while_held) -> None:
    """A broker on the gated mount: one record produced and answered, then the gate closed on the
    topic's partition (`gate_text(topic)`) and a second Produce (acks=1) sent. Other connections
    get ApiVersions, Metadata and a Fetch answered meanwhile, and the Fetch shows only the first
    record committed; the held Produce stays unanswered (`while_held(g)` checks more) until the
    gate opens, then is acknowledged, and both records read back."""
    with _gated_broker(tmp_path, topic_prefix) as (g, gate, _):
        topic = harness.unique_topic(topic_prefix)
        clients.create_topic(g.bootstrap, topic, config=topic_config)
        first = kw.parse_produce_v7(kw.round_trip(g.bootstrap,
                                                  kw.produce_request_v7(1, {topic: {0: _records(b"one")}}, acks=1),
                                                  timeout_s=60))
        assert first[(topic, 0)] == (0, 0), first

        gate.write_text(gate_text(topic))
        producer = kw.connect(g.bootstrap, timeout_s=60)
        try:
            producer.sendall(kw.produce_request_v7(2, {topic: {0: _records(b"two")}}, acks=1))
            # Everything else is answered meanwhile, on other connections.
            versions = kw.round_trip(g.bootstrap, kw.api_versions_request(3), timeout_s=60)
            assert versions is not None and kw.parse_api_versions(versions, 0)[1] == 0
            meta = kw.round_trip(g.bootstrap, kw.metadata_request_v1(4, [topic]), timeout_s=60)
            assert meta is not None and [b[0] for b in kw.parse_metadata_v1_brokers(meta)[1]] == [1]
            fetched = kw.parse_fetch_v11(kw.round_trip(g.bootstrap, kw.fetch_request_v11(6, {topic: {0: 0}}),
                                                       timeout_s=60))
            part = fetched["partitions"][(topic, 0)]
            assert part["error_code"] == 0 and part["high_watermark"] == 1, part
            assert part["batches"] == [(0, 1)], part
            readable, _, _ = select.select([producer], [], [], 0)
            assert not readable, "the Produce was answered while the device held what it waits for"
            while_held(g)

            gate.unlink()
            producer.settimeout(60)
            answer = kw.read_response(producer)
            assert answer is not None, "no answer after the device moved again"
            assert kw.parse_produce_v7(answer)[(topic, 0)] == (0, 1)
        finally:
            producer.close()
        got = clients.consume_all(g.bootstrap, topic, expected=2)
        assert [m.value() for m in got] == [b"one", b"two"]
        m = metrics(g)
        assert m["gregor_log_unwritten_bytes"] == 0 and m["gregor_log_write_failures_total"] == 0, m
        assert g.running()


def test_a_stalled_write_holds_only_the_produce_that_waits_for_it(tmp_path):
    def unwritten_bytes_shown(g):
        m = metrics(g)  # /metrics shows the bytes waiting for the device
        assert m["gregor_log_unwritten_bytes"] > 0 and m["gregor_log_write_failures_total"] == 0, m
    _held_produce_scenario(tmp_path, "held", {}, lambda topic: f"/{topic}-0/", unwritten_bytes_shown)


def test_a_stalled_flush_holds_only_the_produce_that_waits_for_it(tmp_path):
    """flush.messages=1: the writes pass, the device holds the partition's fsyncs. The record
    becomes visible (high watermark) and acknowledged only once flushed."""
    _held_produce_scenario(tmp_path, "synced", {"flush.messages": "1"}, lambda topic: f"fsync:/{topic}-0/",
                           lambda g: None)


def _drop_page_cache(directory: Path) -> None:
    """Evicts the files' pages (through the mount, so the kernel's FUSE cache goes too): the next
    read of them asks the device."""
    for path in directory.iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def test_a_stalled_read_holds_only_the_fetch_that_waits_for_it(tmp_path):
    # No tail cache: every read of the log comes from its files.
    with _gated_broker(tmp_path, "cold", {"log.tail.cache.max.bytes": "0"}) as (g, gate, fs_log):
        cold = harness.unique_topic("cold")
        warm = harness.unique_topic("warm")
        clients.create_topic(g.bootstrap, cold)
        clients.create_topic(g.bootstrap, warm)
        # Batches above the direct-append threshold (64 KiB): written with O_DIRECT.
        values = [bytes([65 + i]) * (100 << 10) for i in range(3)]
        for i, value in enumerate(values):
            answer = kw.parse_produce_v7(kw.round_trip(
                g.bootstrap, kw.produce_request_v7(10 + i, {cold: {0: _records(value)}}, acks=1), timeout_s=60))
            assert answer[(cold, 0)] == (0, i), answer
        answer = kw.parse_produce_v7(kw.round_trip(
            g.bootstrap, kw.produce_request_v7(13, {warm: {0: _records(b"warm")}}, acks=1), timeout_s=60))
        assert answer[(warm, 0)] == (0, 0), answer
        _drop_page_cache(g.log_dir / f"{cold}-0")

        gate.write_text(f"read:/{cold}-0/")
        consumer = kw.connect(g.bootstrap, timeout_s=60)
        try:
            consumer.sendall(kw.fetch_request_v11(20, {cold: {0: 0}}, partition_max_bytes=1 << 20))
            harness.wait_until(lambda: f"held read /{cold}-0/" in fs_log.read_text(), timeout_s=60,
                               what="the Fetch's read of the cold partition reaching the device")
            # Everything else is answered meanwhile, on other connections.
            versions = kw.round_trip(g.bootstrap, kw.api_versions_request(21), timeout_s=60)
            assert versions is not None and kw.parse_api_versions(versions, 0)[1] == 0
            meta = kw.round_trip(g.bootstrap, kw.metadata_request_v1(22, [cold, warm]), timeout_s=60)
            assert meta is not None and [b[0] for b in kw.parse_metadata_v1_brokers(meta)[1]] == [1]
            fetched = kw.parse_fetch_v11(kw.round_trip(g.bootstrap, kw.fetch_request_v11(23, {warm: {0: 0}}),
                                                       timeout_s=60))
            part = fetched["partitions"][(warm, 0)]
            assert part["error_code"] == 0 and part["batches"] == [(0, 1)], part
            readable, _, _ = select.select([consumer], [], [], 0)
            assert not readable, "the Fetch was answered while the device held its read"

            gate.unlink()
            consumer.settimeout(60)
            answer = kw.read_response(consumer)
            assert answer is not None, "no answer after the device moved again"
            part = kw.parse_fetch_v11(answer)["partitions"][(cold, 0)]
            assert part["error_code"] == 0 and part["high_watermark"] == 3, part
            assert part["batches"] == [(0, 1), (1, 1), (2, 1)], part
        finally:
            consumer.close()
        got = clients.consume_all(g.bootstrap, cold, expected=3)
        assert [m.value() for m in got] == values
        assert g.running()
