#!/usr/bin/env python3
"""Side-by-side benchmark of Gregor and Apache Kafka on this machine (issue #5), Python stdlib only.

Starts one broker at a time with equivalent settings (fresh log dir on the same filesystem, same
partition counts, 1 GiB segments, no per-message fsync), runs the same workloads against it with two
load tools (the native librdkafka generator bin/gregor_loadgen and Kafka's own ProducerPerformance /
ConsumerPerformance classes), stops it, then does the same for the next broker: Gregor as shipped
(log.direct.io=true: large appends and uncached reads bypass the page cache), Gregor with
log.direct.io=false (everything through the page cache, as Kafka does), then Kafka. Prints a table
(figure, both Gregor runs, Kafka, the ratios, which direction is better) and writes JSON to
bench/results/.

With --cluster 3 (BENCH_CLUSTER=3) it compares a 3-node Gregor cluster with a 3-node Kafka cluster
instead (issue #12): replication factor 3, min.insync.replicas 2, acks=all, clusters started by
tests/integration/cluster_harness.py; see README.md, "3-broker mode".

With --repeat N (BENCH_REPEAT=N) every broker's workload set runs N times, interleaved (A B C A B C
...), each on a fresh broker; the table shows the median and [min-max] of every figure over the runs
and the JSON keeps every run (README.md, "Repeated runs").

Run through bench/compare/run.sh (or `make bench-compare`); BENCH_QUICK=1 runs a tiny version.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tests" / "tools"
RECORD_SIZE_BYTES = 1024
LATENCY_RATE_MBPS = 50.0  # MB = 10^6 bytes throughout
# Kafka's own start scripts: kafka-server-start.sh's default heap and kafka-run-class.sh's JVM flags.
KAFKA_JVM_OPTS = ("-Xmx1G -Xms1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 "
                  "-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent "
                  "-Djava.awt.headless=true")
# Settings both brokers get (Kafka's defaults unless noted). Segment files are deleted 1 s after a
# topic is deleted (default 60 s) so the workloads do not fill the disk.
COMMON_SETTINGS = {
    "num.partitions": "1",
    "log.segment.bytes": "1073741824",
    "log.flush.interval.messages": "9223372036854775807",
    "log.segment.delete.delay.ms": "1000",
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.replication.factor": "1",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
        return True
    except OSError:
        return False


def proc_cpu_s(pid: int) -> float:
    """utime+stime of the whole process (all threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def machine_info() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = proc_meminfo_kib("MemTotal")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    rdkafka = subprocess.run(["pkg-config", "--modversion", "rdkafka"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    commit += "+uncommitted changes" if dirty else ""
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
            "ram_gib": round(mem_kib / 1024 / 1024, 1), "java": java[0] if java else "",
            "librdkafka": rdkafka, "gregor_commit": commit}


def proc_meminfo_kib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class broker:
    """One running broker process (Gregor or Kafka) and what was measured about it."""

    def __init__(self, name: str, work_dir: Path):
        self.name = name
        self.work_dir = work_dir
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.start_ms: float | None = None
        self.settings: dict = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid)

    def _wait_listening(self, t0: float, timeout_s: float) -> None:
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during start; "
                                   f"see {self.work_dir}/broker.log")
            if port_accepts(self.port):
                self.start_ms = (time.monotonic() - t0) * 1000
                return
            time.sleep(0.001)
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout_s}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def dirty_mib() -> float:
    """Dirty + Writeback page-cache memory, MiB (/proc/meminfo): data written to files and not yet
    on the device."""
    kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(("Dirty:", "Writeback:")):
            kb += int(line.split()[1])
    return kb / 1024


def settle_disk(res: dict) -> None:
    """Before each broker (or cluster) starts: writes the page cache's dirty data out (sync), so no
    run inherits the previous one's writeback (Kafka writes every append through the page cache,
    gigabytes per run). Records what was dirty and how long the sync took. A check by hand
    (2026-12-07, bench/README.md "Cluster latency stalls") did not tie the stalls of the cluster
    latency runs to dirty data; this only keeps the runs independent."""
    before = dirty_mib()
    t0 = time.monotonic()
    os.sync()
    res["dirty_mib_before_start"] = round(before, 1)
    res["sync_before_start_s"] = round(time.monotonic() - t0, 2)


class gregor_broker(broker):
    """Gregor with the common settings; "gregor-buffered" adds log.direct.io=false (page cache only)."""

    def __init__(self, name: str, work_dir: Path, binary: Path, sets: dict | None = None):
        super().__init__(name, work_dir)
        self.binary = binary
        self.extra = {"log.direct.io": "false"} if name == "gregor-buffered" else {}
        self.extra.update(sets or {})

    def start(self) -> None:
        data = self.work_dir / "data"
        data.mkdir(parents=True)
        sets = {"listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
                "log.dirs": str(data), "node.id": "1",
                "http.listeners": f"http://127.0.0.1:{free_port()}", **COMMON_SETTINGS, **self.extra}
        cmd = [str(self.binary), "serve"]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        self.settings = {"command": " ".join(cmd)}
        out = open(self.work_dir / "broker.log", "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     cwd=self.work_dir, start_new_session=True)
        self._wait_listening(t0, 30)


class kafka_broker(broker):
    """Apache Kafka via tests/tools/run-reference-kafka.sh fg: the script formats the log dir (a
    separate JVM), then execs the broker JVM in place, so start-up is timed from that exec."""

    def start(self) -> None:
        env = dict(os.environ)
        env["KAFKA_HEAP_OPTS"] = KAFKA_JVM_OPTS
        env["KAFKA_EXTRA_PROPS"] = "\n".join(f"{k}={v}" for k, v in COMMON_SETTINGS.items())
        self.settings = {"jvm_opts": KAFKA_JVM_OPTS, "extra_props": COMMON_SETTINGS}
        out = open(self.work_dir / "broker.log", "wb")
        self.proc = subprocess.Popen([str(TOOLS / "run-reference-kafka.sh"), "fg", str(self.port),
                                      str(self.work_dir)], stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=out, env=env, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:  # wait for the exec of the broker JVM (the pid's exe turns into java)
            if self.proc.poll() is not None:
                raise RuntimeError(f"kafka exited with {self.proc.returncode}; see {self.work_dir}/broker.log")
            try:
                if os.readlink(f"/proc/{self.pid}/exe").endswith("/java"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("kafka: format step did not finish in 120 s")
            time.sleep(0.001)
        self._wait_listening(time.monotonic(), 120)


# ---- 3-broker mode (--cluster 3, BENCH_CLUSTER=3) -------------------------------------------------
# The clusters are the ones the cluster tests run (tests/integration/cluster_harness.py): every node
# broker+controller (process.roles=broker,controller, Kafka's combined KRaft mode), node ids 1..N,
# controller.quorum.voters listing all of them, started with Kafka's config names for both
# implementations. Nodes share 127.0.0.1 with their own ports (GREGOR_CLUSTER_NET=loopback unless
# set otherwise), so the numbers measure the brokers, not a network.
CLUSTER_SETTINGS = {
    "min.insync.replicas": "2",
    "default.replication.factor": "3",
    "offsets.topic.replication.factor": "3",
}
# Fixed rates of the latency runs: 10 MB/s is well below either cluster's maximum here; 50 MB/s is
# the rate, close to Kafka's 3-node maximum on one partition (~63 MB/s), so Kafka's figures
# there include queueing (the "achieved" rows show whether it kept up).
CLUSTER_LATENCY_RATES_MBPS = "10,50"


def cluster_harness_module():
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    os.environ.setdefault("GREGOR_CLUSTER_NET", "loopback")
    import cluster_harness  # noqa: PLC0415 - only the cluster mode needs it
    return cluster_harness


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class cluster_target:
    """N nodes of one implementation (a cluster_harness.cluster), seen by the runner like one broker:
    bootstrap lists every node, CPU is the sum over the nodes' processes."""

    def __init__(self, name: str, work_dir: Path, nodes: int, gregor_bin: Path, sets: dict | None = None):
        self.name = name
        self.sets = sets if name == "gregor" else {}  # --gregor-set: Gregor's nodes only
        self.work_dir = work_dir
        self.nodes = nodes
        self.gregor_bin = gregor_bin
        self.cl = None
        self.start_ms: float | None = None
        self.settings: dict = {}

    def start(self) -> None:
        ch = cluster_harness_module()
        os.environ["GREGOR_BIN"] = str(self.gregor_bin)  # what cluster_harness.gregor_impl runs
        os.environ.pop("GREGOR_TEST_SETS", None)
        common = {k: v for k, v in COMMON_SETTINGS.items() if k != "offsets.topic.replication.factor"}
        self.cl = ch.cluster(self.work_dir, nodes=self.nodes, layout="combined", impl=self.name,
                             extra_config={**common, **CLUSTER_SETTINGS, **(self.sets or {})})
        if self.name == "kafka":
            self.cl.impl = bench_kafka_impl(ch, self.work_dir)
        self.cl.start(wait=True, timeout_s=240)
        # From the launch of the node processes (Kafka's directories are formatted before it).
        self.start_ms = (time.monotonic() - self.cl.launched_at) * 1000
        first = self.cl.nodes[1]
        self.settings = {"layout": f"{self.nodes} nodes, combined broker+controller",
                         "network": self.cl.network.kind, "node_1_config": self.cl.node_config(first)}
        if self.name == "kafka":
            self.settings["jvm_opts"] = KAFKA_JVM_OPTS
        else:
            self.settings["node_1_command"] = " ".join(self.cl.impl.command(self.cl, first))

    @property
    def bootstrap(self) -> str:
        return self.cl.bootstrap()

    @property
    def pids(self) -> dict[int, int]:
        return {i: n.pid for i, n in self.cl.nodes.items() if n.running()}

    @property
    def pid(self) -> int:  # --perf profiles node 1
        return self.pids[1]

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(pid) for pid in self.pids.values())

    def stop(self) -> None:
        if self.cl is not None:
            self.cl.close()


def bench_kafka_impl(ch, base: Path):
    """cluster_harness's Kafka nodes with the JVM options of the single-broker mode (Kafka's own start
    scripts): the test harness's small heap and C1-only JIT would handicap Kafka here."""

    class impl(ch.kafka_impl):
        def _java(self, main_class: str, *args: str) -> list[str]:
            return ["java", *KAFKA_JVM_OPTS.split(), f"-Dlog4j2.configurationFile={self.log4j2}",
                    f"-Dlog4j.configuration=file:{self.log4j}", f"-Dkafka.logs.dir={self._logs_dir}",
                    "-cp", self.classpath, main_class, *args]

    k = impl(base)
    # Kafka's Uuid.randomUuid never starts an id with '-' (it would read as an option to
    # kafka-storage format -t); cluster_harness draws a plain random one, so draw again here.
    while k.cluster_id.startswith("-"):
        k.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return k


class runner:
    """Runs the load tools against one broker and collects their figures."""

    def __init__(self, args, classpath: str, logs: Path):
        self.args = args
        self.classpath = classpath
        self.logs = logs
        self.quick = args.quick
        self.duration_s = 2 if args.quick else args.duration_s
        self.replication_factor = args.cluster if args.cluster > 1 else 1

    def loadgen(self, b: broker, *argv: str, timeout_s: float = 600) -> dict | None:
        cmd = [str(self.args.loadgen), argv[0], "--bootstrap", b.bootstrap, *argv[1:]]
        with open(self.logs / "loadgen.log", "a") as err:
            err.write("$ " + " ".join(cmd) + "\n")
            err.flush()
            try:
                res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log(f"  loadgen timed out: {' '.join(argv)}")
                return None
            err.write(res.stdout)
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            log(f"  loadgen {argv[0]} failed (exit {res.returncode}); see {self.logs}/loadgen.log")
            return None
        out = json.loads(lines[-1])
        out["exit_code"] = res.returncode
        if res.returncode != 0:
            log(f"  loadgen {argv[0]} exit {res.returncode}: {lines[-1][:300]}")
        return out

    def java(self, main_class: str, argv: list[str], timeout_s: float) -> tuple[str, bool]:
        cmd = ["java", "-Xmx1G", f"-Dlog4j2.configurationFile={TOOLS}/log4j2.properties",
               f"-Dlog4j.configuration=file:{TOOLS}/log4j.properties", "-cp", self.classpath,
               main_class, *argv]
        with open(self.logs / "java-tools.log", "a") as err:
            err.write("$ " + " ".join(cmd[:3] + cmd[6:]) + "\n")
            err.flush()
            try:
                res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, timeout=timeout_s)
                err.write(res.stdout)
                return res.stdout, res.returncode == 0
            except subprocess.TimeoutExpired as exc:
                text = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
                err.write(text + "\n(timed out)\n")
                return text, False

    def start_perf(self, b: broker) -> subprocess.Popen | None:
        """With --perf, samples Gregor's stacks during one produce run (perf record -g)."""
        if not self.args.perf or b.name != "gregor" or not shutil.which("perf"):
            return None
        return subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(b.pid), "-o",
                                 str(self.logs / "gregor-produce.perf.data")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish_perf(self, b: broker, perf: subprocess.Popen | None) -> None:
        if perf is None:
            return
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        out = self.logs / "gregor-produce-perf.txt"
        with open(out, "w") as f:
            subprocess.run(["perf", "report", "--no-children", "--stdio", "--sort", "dso,symbol", "-g", "none",
                            "-i", str(self.logs / "gregor-produce.perf.data")], stdout=f,
                           stderr=subprocess.DEVNULL, timeout=300)
        log(f"  perf profile of gregor (8 partitions, acks=1): {out}")

    def wait_ready(self, b: broker) -> None:
        """The port accepts before the broker serves metadata; create a topic until that works."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            r = self.loadgen(b, "create", "--topic", "bench-ready", "--partitions", "1",
                             "--replication-factor", str(self.replication_factor), timeout_s=70)
            if r and r.get("ok"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{b.name} did not create a topic within 90 s")

    def produce_native(self, b: broker, topic: str, partitions: int, acks: str, extra: list[str]) -> dict | None:
        cpu0 = b.cpu_s()
        dirty0 = dirty_mib()
        r = self.loadgen(b, "produce", "--topic", topic, "--partitions", str(partitions),
                         "--replication-factor", str(self.replication_factor), "--acks", acks,
                         "--record-size", str(RECORD_SIZE_BYTES), *extra)
        if r is not None:
            r["broker_cpu_s"] = b.cpu_s() - cpu0
            r["dirty_mib_at_start"] = round(dirty0, 1)
        return r

    def produce_java(self, b: broker, topic: str, partitions: int, acks: str, records: int,
                     throughput: int, linger_ms: int, warmup_records: int = 0) -> dict | None:
        """Kafka's ProducerPerformance. With warmup_records, the figures are its steady-state summary
        (KIP-1052: the first records, sent while the client JVM compiles its hot paths, are left out;
        the same for both brokers), and `records` counts the steady-state records."""
        self.loadgen(b, "create", "--topic", topic, "--partitions", str(partitions),
                     "--replication-factor", str(self.replication_factor))
        props = [f"bootstrap.servers={b.bootstrap}", f"acks={acks}", f"linger.ms={linger_ms}",
                 "batch.size=1000000", "buffer.memory=268435456", "compression.type=none",
                 "enable.idempotence=false", "max.in.flight.requests.per.connection=5"]
        cpu0 = b.cpu_s()
        t0 = time.monotonic()
        warmup = ["--warmup-records", str(warmup_records)] if warmup_records > 0 else []
        out, ok = self.java("org.apache.kafka.tools.ProducerPerformance",
                            ["--topic", topic, "--num-records", str(records + warmup_records), "--record-size",
                             str(RECORD_SIZE_BYTES), "--throughput", str(throughput), *warmup,
                             "--producer-props", *props], timeout_s=max(60, self.duration_s * 6 + 30))
        cpu = b.cpu_s() - cpu0
        steady = " steady state" if warmup_records > 0 else ""
        final = re.search(r"(\d+)" + steady + r" records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                          r"([\d.]+) ms max latency, ([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th, "
                          r"([\d.]+) ms 99.9th", out)
        if final:
            return {"records": int(final[1]), "records_per_s": float(final[2]),
                    "mb_per_s": float(final[2]) * RECORD_SIZE_BYTES / 1e6, "latency_ms_avg": float(final[4]),
                    "latency_ms_max": float(final[5]), "latency_ms_p50": float(final[6]),
                    "latency_ms_p99": float(final[8]), "latency_ms_p999": float(final[9]), "broker_cpu_s": cpu, "complete": ok,
                    "elapsed_s": time.monotonic() - t0}
        progress = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", out)
        if progress:  # timed out: report the rate of the progress lines
            rates = [float(p[1]) for p in progress]
            rate = sum(rates) / len(rates)
            log(f"  ProducerPerformance did not finish; using its progress lines ({rate:.0f} records/s)")
            return {"records_per_s": rate, "mb_per_s": rate * RECORD_SIZE_BYTES / 1e6, "complete": False}
        log(f"  ProducerPerformance failed; see {self.logs}/java-tools.log")
        return None

    def consume_java(self, b: broker, topic: str, records: int) -> dict | None:
        out, ok = self.java("org.apache.kafka.tools.ConsumerPerformance",
                            ["--bootstrap-server", b.bootstrap, "--topic", topic, "--num-records", str(records),
                             "--fetch-size", "4194304", "--timeout", "60000", "--group",
                             f"bench-perf-{time.time_ns()}"], timeout_s=300)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        header = next((i for i, ln in enumerate(lines) if ln.startswith("start.time")), None)
        if header is None or header + 1 >= len(lines):
            log(f"  ConsumerPerformance failed; see {self.logs}/java-tools.log")
            return None
        keys = [k.strip() for k in lines[header].split(",")]
        vals = [v.strip() for v in lines[header + 1].split(",")]
        row = dict(zip(keys, vals))
        n = int(float(row["data.consumed.in.nMsg"]))
        fetch_s = float(row["fetch.time.ms"]) / 1000
        return {"records": n, "fetch_s": fetch_s, "rebalance_ms": float(row["rebalance.time.ms"]),
                "mb_per_s": n * RECORD_SIZE_BYTES / 1e6 / fetch_s if fetch_s > 0 else None,
                "complete": n >= records}

    def run_all(self, b: broker) -> dict:
        res: dict = {"start_to_listening_ms": b.start_ms, "settings": b.settings, "workloads": {},
                     "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3]}
        w = res["workloads"]
        self.wait_ready(b)
        dur = str(self.duration_s)
        # 1. Maximum throughput, native loadgen then ProducerPerformance, fresh topic each.
        native_rates = {}
        for partitions in (1, 8):
            for acks in ("1", "all"):
                key = f"produce_p{partitions}_acks{acks}"
                topic = f"max-p{partitions}-a{acks}"
                log(f"{b.name}: {key} native ({dur} s)")
                perf = self.start_perf(b) if (partitions, acks) == (8, "1") else None
                r = self.produce_native(b, topic + "-native", partitions, acks, ["--duration-s", dur])
                self.finish_perf(b, perf)
                w[key + "_native"] = r
                native_rates[key] = r["records_per_s"] if r else 20000
                self.loadgen(b, "delete", "--topic", topic + "-native")
        for partitions in (1, 8):
            for acks in ("1", "all"):
                key = f"produce_p{partitions}_acks{acks}"
                topic = f"max-p{partitions}-a{acks}-java"
                records = int(min(native_rates[key], 400_000) * self.duration_s)
                log(f"{b.name}: {key} ProducerPerformance ({records} records)")
                w[key + "_java"] = self.produce_java(b, topic, partitions, acks, records, -1, 5)
                self.loadgen(b, "delete", "--topic", topic)
        # 2. Latency at a fixed 50 MB/s (linger.ms 0: a record is sent as soon as the client can).
        lat_dur = str(2 if self.quick else self.args.latency_duration_s)
        log(f"{b.name}: latency at {LATENCY_RATE_MBPS} MB/s native ({lat_dur} s)")
        w["latency_50mbps_native"] = self.produce_native(
            b, "lat-native", 1, "all", ["--duration-s", lat_dur, "--rate-mbps", str(LATENCY_RATE_MBPS),
                                        "--linger-ms", "0"])
        self.loadgen(b, "delete", "--topic", "lat-native")
        rate_records = int(LATENCY_RATE_MBPS * 1e6 / RECORD_SIZE_BYTES)
        log(f"{b.name}: latency at {LATENCY_RATE_MBPS} MB/s ProducerPerformance")
        w["latency_50mbps_java"] = self.produce_java(b, "lat-java", 1, "all", rate_records * int(float(lat_dur)),
                                                     rate_records, 0)
        self.loadgen(b, "delete", "--topic", "lat-java")
        # 3. Consume from the page cache: write ~2 GiB, then read it all with each tool.
        total = (100 << 20) if self.quick else (2 << 30)
        records = total // RECORD_SIZE_BYTES
        log(f"{b.name}: filling consume topic ({records} records)")
        fill = self.produce_native(b, "consume-p8", 8, "1", ["--count", str(records)])
        w["consume_fill"] = fill
        log(f"{b.name}: consume native")
        w["consume_native"] = self.loadgen(b, "consume", "--topic", "consume-p8", "--timeout-s", "300")
        log(f"{b.name}: consume ConsumerPerformance")
        w["consume_java"] = self.consume_java(b, "consume-p8", records)
        # 4. Footprint and CPU.
        res["peak_rss_mib"] = proc_status_kib(b.pid, "VmHWM") / 1024
        res["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
        cpu = sum(w[k]["broker_cpu_s"] for k in w if k.startswith("produce_") and k.endswith("_native") and w[k])
        gb = sum(w[k]["bytes"] for k in w if k.startswith("produce_") and k.endswith("_native") and w[k]) / 1e9
        res["cpu_s_per_gb_produced"] = cpu / gb if gb > 0 else None
        return res


    def warm_topic(self, c: cluster_target, topic: str, partitions: int) -> None:
        """Creates the topic and writes 1000 acks=all records to it, so a measured run does not
        include the new partitions' leaders and followers starting up (both implementations answer
        the first produces to a just-created partition with retriable errors for a while)."""
        self.loadgen(c, "produce", "--topic", topic, "--partitions", str(partitions), "--replication-factor",
                     str(self.replication_factor), "--acks", "all", "--record-size", str(RECORD_SIZE_BYTES),
                     "--count", "1000")

    def run_cluster(self, c: cluster_target) -> dict:
        """The 3-broker workloads: every topic has replication factor N (min.insync.replicas 2),
        every produce is acks=all."""
        res: dict = {"start_to_serving_ms": c.start_ms, "settings": c.settings, "workloads": {},
                     "uptime_at_start": uptime(), "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3]}
        w = res["workloads"]
        self.wait_ready(c)
        dur = str(self.duration_s)
        # 1. Maximum acks=all throughput, native loadgen then ProducerPerformance, fresh topic each.
        native_rates = {}
        for partitions in (1, 8):
            key = f"produce_p{partitions}_acksall"
            log(f"{c.name}: {key} native ({dur} s)")
            self.warm_topic(c, f"max-p{partitions}-native", partitions)
            perf = self.start_perf(c) if partitions == 8 else None
            r = self.produce_native(c, f"max-p{partitions}-native", partitions, "all", ["--duration-s", dur])
            self.finish_perf(c, perf)
            w[key + "_native"] = r
            native_rates[key] = r["records_per_s"] if r else 20000
            self.loadgen(c, "delete", "--topic", f"max-p{partitions}-native")
        for partitions in (1, 8):
            key = f"produce_p{partitions}_acksall"
            records = int(min(native_rates[key], 400_000) * self.duration_s)
            log(f"{c.name}: {key} ProducerPerformance ({records} records)")
            self.warm_topic(c, f"max-p{partitions}-java", partitions)
            w[key + "_java"] = self.produce_java(c, f"max-p{partitions}-java", partitions, "all", records, -1, 5)
            self.loadgen(c, "delete", "--topic", f"max-p{partitions}-java")
        # 2. Latency at fixed rates, 1 partition, acks=all, linger.ms 0.
        lat_dur = str(2 if self.quick else self.args.latency_duration_s)
        for rate in cluster_rates(self.args):
            tag = latency_key(rate)
            log(f"{c.name}: latency at {rate:g} MB/s native ({lat_dur} s)")
            self.warm_topic(c, f"lat-native-{tag}", 1)
            w[f"{tag}_native"] = self.produce_native(
                c, f"lat-native-{tag}", 1, "all",
                ["--duration-s", lat_dur, "--rate-mbps", str(rate), "--linger-ms", "0"])
            self.loadgen(c, "delete", "--topic", f"lat-native-{tag}")
            rate_records = int(rate * 1e6 / RECORD_SIZE_BYTES)
            log(f"{c.name}: latency at {rate:g} MB/s ProducerPerformance")
            self.warm_topic(c, f"lat-java-{tag}", 1)
            # The first 5 s of records warm the client JVM up and are left out (--warmup-records).
            w[f"{tag}_java"] = self.produce_java(c, f"lat-java-{tag}", 1, "all", int(rate_records * float(lat_dur)),
                                                 rate_records, 0,
                                                 warmup_records=0 if self.quick else rate_records * 5)
            self.loadgen(c, "delete", "--topic", f"lat-java-{tag}")
        # 3. Consume: write 1 GiB (acks=all) to 8 partitions, then read it all with each tool.
        total = (100 << 20) if self.quick else (1 << 30)
        records = total // RECORD_SIZE_BYTES
        log(f"{c.name}: filling consume topic ({records} records)")
        w["consume_fill"] = self.produce_native(c, "consume-p8", 8, "all", ["--count", str(records)])
        log(f"{c.name}: consume native")
        w["consume_native"] = self.loadgen(c, "consume", "--topic", "consume-p8", "--timeout-s", "300")
        log(f"{c.name}: consume ConsumerPerformance")
        w["consume_java"] = self.consume_java(c, "consume-p8", records)
        # 4. Footprint and CPU, per node and summed.
        res["peak_rss_mib_per_node"] = {str(i): proc_status_kib(pid, "VmHWM") / 1024 for i, pid in c.pids.items()}
        res["rss_mib_per_node_at_end"] = {str(i): proc_status_kib(pid, "VmRSS") / 1024 for i, pid in c.pids.items()}
        res["peak_rss_mib_sum"] = sum(res["peak_rss_mib_per_node"].values())
        res["uptime_at_end"] = uptime()
        res["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
        runs = [w[k] for k in w if k.startswith("produce_") and k.endswith("_native") and w[k]]
        gb = sum(r["bytes"] for r in runs) / 1e9
        res["cpu_s_per_gb_produced"] = sum(r["broker_cpu_s"] for r in runs) / gb if gb > 0 else None
        return res


# (figure, key path or function, unit, better)
def figures(r: dict) -> list[tuple[str, object, str]]:
    w = r.get("workloads", {})

    def get(name, field):
        v = w.get(name)
        return v.get(field) if v else None

    rows = []
    for tool in ("native", "java"):
        for p in (1, 8):
            for acks in ("1", "all"):
                rows.append((f"produce MB/s, {p} partition{'s' if p > 1 else ''}, acks={acks} ({tool})",
                             get(f"produce_p{p}_acks{acks}_{tool}", "mb_per_s"), "higher"))
    for tool in ("native", "java"):
        for q, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max")):
            rows.append((f"produce latency {label} ms at 50 MB/s ({tool})",
                         get(f"latency_50mbps_{tool}", f"latency_ms_{q}"), "lower"))
    for tool in ("native", "java"):
        rows.append((f"  achieved MB/s in the 50 MB/s run ({tool})", get(f"latency_50mbps_{tool}", "mb_per_s"), "info"))
    rows.append(("consume MB/s from page cache, 8 partitions (native)", get("consume_native", "mb_per_s"), "higher"))
    rows.append(("consume MB/s from page cache, 8 partitions (java)", get("consume_java", "mb_per_s"), "higher"))
    rows.append(("broker peak RSS MiB (VmHWM)", r.get("peak_rss_mib"), "lower"))
    rows.append(("broker CPU s per GB produced (native max runs)", r.get("cpu_s_per_gb_produced"), "lower"))
    rows.append(("start to listening ms", r.get("start_to_listening_ms"), "lower"))
    return rows


def fmt(v) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def column_stats(values: list) -> dict:
    """One figure of one broker over the repeated runs: the median, min, max and relative spread
    ((max - min) / median) of the runs that produced it (failed runs give None and are left out),
    and every run's value in run order."""
    got = [v for v in values if v is not None]
    if not got:
        return {"median": None, "min": None, "max": None, "spread": None, "values": values}
    med = statistics.median(got)
    spread = (max(got) - min(got)) / abs(med) if med else None
    return {"median": med, "min": min(got), "max": max(got), "spread": spread, "values": values}


def figure_stats(runs: list[dict], figures_of) -> list[tuple[str, dict, str]]:
    """(figure, column_stats over the runs, better) for every row figures_of gives for one run."""
    per_run = [figures_of(r) for r in runs]
    return [(name, column_stats([fr[i][1] for fr in per_run]), better)
            for i, (name, _, better) in enumerate(figures_of({}))]


def stat_keys(column: str, st: dict) -> dict:
    """A table row's keys for one broker: the median under the column's own name (the single value
    when there is one run), then its spread over the runs."""
    return {column: st["median"], f"{column}_min": st["min"], f"{column}_max": st["max"],
            f"{column}_spread": st["spread"], f"{column}_runs": st["values"]}


def ratio_of(v, kv):
    return v / kv if v is not None and kv not in (None, 0) else None


def cell(row: dict, column: str, repeat: int) -> str:
    """The median, with [min–max] over the runs when there is more than one."""
    text = fmt(row[column])
    if repeat > 1 and row[column] is not None:
        text += f" [{fmt(row[column + '_min'])}–{fmt(row[column + '_max'])}]"
    return text


def max_spread(row: dict, columns: tuple[str, ...]) -> str:
    """The row's largest relative spread over its columns, in percent."""
    spreads = [row[c + "_spread"] for c in columns if row.get(c + "_spread") is not None]
    return f"{max(spreads) * 100:.0f}%" if spreads else "n/a"


# Minimum widths of the table's columns (those of the one-run table).
COLUMN_WIDTHS = {"Gregor": 8, "buffered": 8, "Kafka": 8, "Gregor/Kafka": 12, "buff./Kafka": 12, "target": 13}


def render(rows: list[dict], columns: list[tuple[str, str, object]]) -> str:
    """A markdown table: `figure` left-aligned, then columns given as (header, alignment ">" or "<",
    function of the row giving the cell's text)."""
    cells = [[text_of(r) for _, _, text_of in columns] for r in rows]
    fig_w = max(len(r["figure"]) for r in rows)
    widths = [max(len(h), COLUMN_WIDTHS.get(h, 0), *(len(cs[i]) for cs in cells))
              for i, (h, _, _) in enumerate(columns)]
    aligns = [a for _, a, _ in columns]

    def line(first: str, texts: list[str]) -> str:
        padded = [f"{t:{a}{w}}" for t, a, w in zip(texts, aligns, widths)]
        return "| " + " | ".join([f"{first:<{fig_w}}", *padded]) + " |"

    rule = "|".join(["", "-" * (fig_w + 2)] + ["-" * (w + 1) + ":" if a == ">" else "-" * (w + 2)
                                              for a, w in zip(aligns, widths)] + [""])
    return "\n".join([line("figure", [h for h, _, _ in columns]), rule]
                     + [line(r["figure"], cs) for r, cs in zip(rows, cells)])


def show_ratio(r: dict, key: str) -> str:
    if r["better"] == "info":
        return ""
    return f"{r[key]:.2f}x" if r[key] is not None else "n/a"


def table(runs: dict[str, list[dict]], repeat: int) -> tuple[str, list[dict]]:
    """Gregor (as shipped), Gregor with log.direct.io=false (buffered, like Kafka), Kafka, and the two
    ratios to Kafka, computed from the medians over the runs."""
    g = figure_stats(runs.get("gregor", []), figures)
    d = figure_stats(runs.get("gregor-buffered", []), figures)
    k = figure_stats(runs.get("kafka", []), figures)
    rows = []
    for (name, gs, better), (_, ds, _), (_, ks, _) in zip(g, d, k):
        rows.append({"figure": name, "gregor": gs["median"], "gregor_buffered": ds["median"], "kafka": ks["median"],
                     "ratio": ratio_of(gs["median"], ks["median"]),
                     "ratio_buffered": ratio_of(ds["median"], ks["median"]), "better": better,
                     **stat_keys("gregor", gs), **stat_keys("gregor_buffered", ds), **stat_keys("kafka", ks)})
    brokers = ("gregor", "gregor_buffered", "kafka")
    columns = [("Gregor", ">", lambda r: cell(r, "gregor", repeat)),
               ("buffered", ">", lambda r: cell(r, "gregor_buffered", repeat)),
               ("Kafka", ">", lambda r: cell(r, "kafka", repeat)),
               ("Gregor/Kafka", ">", lambda r: show_ratio(r, "ratio")),
               ("buff./Kafka", ">", lambda r: show_ratio(r, "ratio_buffered")),
               ("better", "<", lambda r: "" if r["better"] == "info" else r["better"])]
    if repeat > 1:
        columns.insert(5, ("spread", ">", lambda r: max_spread(r, brokers)))
    return render(rows, columns), rows


# Issue 16's targets, which the 3-broker cluster must meet too, as Gregor/Kafka ratios:
# (figure prefix, test, text).
CLUSTER_TARGETS = (("produce MB/s", lambda x: x >= 2.0, ">= 2x"),
                   ("consume MB/s", lambda x: x >= 2.0, ">= 2x"),
                   ("produce latency p99 ", lambda x: x <= 0.1, "<= 0.1x"),
                   ("produce latency p99.9 ", lambda x: x <= 0.2, "<= 0.2x"),
                   ("broker peak RSS MiB (VmHWM), sum", lambda x: x <= 0.1, "<= 0.1x"))


def gregor_sets(args) -> dict:
    """--gregor-set key=value (repeatable): extra settings for Gregor's brokers, for A/B runs."""
    return dict(kv.split("=", 1) for kv in (args.gregor_set or []))


def cluster_rates(args) -> list[float]:
    return [float(x) for x in str(args.cluster_latency_rate_mbps).split(",") if x.strip()]


def latency_key(rate: float) -> str:
    return f"latency_{rate:g}mbps".replace(".", "_")


def cluster_figures(r: dict, nodes: int, rates: list[float]) -> list[tuple[str, object, str]]:
    w = r.get("workloads", {})

    def get(name, field):
        v = w.get(name)
        return v.get(field) if v else None

    rows = []
    for tool in ("native", "java"):
        for p in (1, 8):
            rows.append((f"produce MB/s, {p} partition{'s' if p > 1 else ''}, acks=all ({tool})",
                         get(f"produce_p{p}_acksall_{tool}", "mb_per_s"), "higher"))
    for rate in rates:
        tag = latency_key(rate)
        for tool in ("native", "java"):
            for q, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max")):
                rows.append((f"produce latency {label} ms at {rate:g} MB/s ({tool})",
                             get(f"{tag}_{tool}", f"latency_ms_{q}"), "lower"))
        for tool in ("native", "java"):
            rows.append((f"  achieved MB/s in the {rate:g} MB/s run ({tool})", get(f"{tag}_{tool}", "mb_per_s"),
                         "info"))
    rows.append(("consume MB/s, 8 partitions (native)", get("consume_native", "mb_per_s"), "higher"))
    rows.append(("consume MB/s, 8 partitions (java)", get("consume_java", "mb_per_s"), "higher"))
    rows.append((f"broker peak RSS MiB (VmHWM), sum of {nodes} nodes", r.get("peak_rss_mib_sum"), "lower"))
    per_node = r.get("peak_rss_mib_per_node", {})
    for i in range(1, nodes + 1):
        rows.append((f"  node {i} peak RSS MiB", per_node.get(str(i)), "lower"))
    rows.append(("broker CPU s per GB produced, all nodes (native max runs)", r.get("cpu_s_per_gb_produced"), "lower"))
    rows.append(("start to serving ms (quorum formed, every broker registered)", r.get("start_to_serving_ms"), "lower"))
    return rows


def cluster_table(runs: dict[str, list[dict]], repeat: int, nodes: int, rates: list[float]) -> tuple[str, list[dict]]:
    """Gregor's cluster, Kafka's cluster, the ratio of the medians, and whether it meets the issue's
    target."""
    g = figure_stats(runs.get("gregor", []), lambda r: cluster_figures(r, nodes, rates))
    k = figure_stats(runs.get("kafka", []), lambda r: cluster_figures(r, nodes, rates))
    rows = []
    for (name, gs, better), (_, ks, _) in zip(g, k):
        ratio = ratio_of(gs["median"], ks["median"])
        target = next(((text, test) for prefix, test, text in CLUSTER_TARGETS if name.startswith(prefix)), None)
        rows.append({"figure": name, "gregor": gs["median"], "kafka": ks["median"], "ratio": ratio, "better": better,
                     "target": target[0] if target else None,
                     "meets_target": (target[1](ratio) if target and ratio is not None else None),
                     **stat_keys("gregor", gs), **stat_keys("kafka", ks)})

    def target(r):
        if not r["target"]:
            return ""
        return r["target"] + (" n/a" if r["meets_target"] is None else " yes" if r["meets_target"] else " no")

    columns = [("Gregor", ">", lambda r: cell(r, "gregor", repeat)),
               ("Kafka", ">", lambda r: cell(r, "kafka", repeat)),
               ("Gregor/Kafka", ">", lambda r: show_ratio(r, "ratio")),
               ("target", ">", target),
               ("better", "<", lambda r: "" if r["better"] == "info" else r["better"])]
    if repeat > 1:
        columns.insert(3, ("spread", ">", lambda r: max_spread(r, ("gregor", "kafka"))))
    return render(rows, columns), rows


def run_rounds(args, work: Path, run_one) -> dict[str, list[dict]]:
    """Runs every broker of --brokers args.repeat times, interleaved (round 1: A B C, round 2: A B C,
    ...), so that a busy spell of a shared machine lands on every broker rather than on one. Each run
    gets a fresh directory: <work>/<name>, or <work>/<name>-<round> with --repeat > 1.
    run_one(name, dir, tag) returns one run's figures ("error" set when the run failed)."""
    names = args.brokers.split(",")
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for rnd in range(1, args.repeat + 1):
        for name in names:
            bdir = work / (name if args.repeat == 1 else f"{name}-{rnd}")
            bdir.mkdir()
            res = run_one(name, bdir, f" (round {rnd}/{args.repeat})" if args.repeat > 1 else "")
            res["round"] = rnd
            runs[name].append(res)
    return runs


def attach_runs(results: dict, runs: dict[str, list[dict]], repeat: int) -> None:
    """Every run's raw figures go to results["runs"][name]; with one run results[name] is that run,
    as before --repeat existed."""
    results["repeat"] = repeat
    results["runs"] = runs
    if repeat == 1:
        results.update({n: rs[0] for n, rs in runs.items()})


def failures(runs: dict[str, list[dict]]) -> list[str]:
    return [f"{n} round {r['round']}: {r['error']}" for n, rs in runs.items() for r in rs if "error" in r]


def print_repeat_note(args, runs: dict[str, list[dict]]) -> None:
    """Under the table: what the bracketed figures are, and which runs failed (left out of them)."""
    if args.repeat > 1:
        print(f"\nMedian [min–max] over {args.repeat} runs per broker, run interleaved ({', '.join(runs)}, "
              f"{', '.join(runs)}, ...), each on a fresh broker; ratios are of the medians; spread: the "
              f"row's largest (max - min) / median.")
    for f in failures(runs):
        print(f"failed (left out of the figures): {f}")


def repeat_suffix(args) -> str:
    return f" BENCH_REPEAT={args.repeat}" if args.repeat > 1 else ""


def main_cluster(args, classpath: str, work: Path) -> int:
    """--cluster N: Gregor's N-node cluster, then Apache Kafka's (one at a time), same workloads."""
    names = args.brokers.split(",")
    started = dt.datetime.now(dt.timezone.utc)
    quick = " BENCH_QUICK=1" if args.quick else ""
    results: dict = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick, "nodes": args.cluster,
                     "machine": machine_info(), "record_size_bytes": RECORD_SIZE_BYTES,
                     "command": f"BENCH_CLUSTER={args.cluster}{quick} make bench-compare{repeat_suffix(args)}",
                     "settings": {"replication_factor": args.cluster, "acks": "all", **CLUSTER_SETTINGS,
                                  **{k: v for k, v in COMMON_SETTINGS.items()
                                     if k != "offsets.topic.replication.factor"},
                                  "latency_rates_mbps": cluster_rates(args)}}
    run = runner(args, classpath, work)

    def run_one(name: str, bdir: Path, tag: str) -> dict:
        c = cluster_target(name, bdir, args.cluster, args.gregor_bin.resolve(), gregor_sets(args))
        res: dict = {}
        settle_disk(res)
        log(f"starting {name} ({args.cluster} nodes){tag}; {uptime()}; synced {res['dirty_mib_before_start']:.0f} MiB dirty "
            f"in {res['sync_before_start_s']:.1f} s")
        try:
            c.start()
            log(f"{name} serving on {c.bootstrap} after {c.start_ms:.0f} ms (pids {c.pids})")
            res.update(run.run_cluster(c))
        except Exception as exc:  # one cluster failing still reports the other
            log(f"{name}: {exc}")
            res["error"] = str(exc)
        finally:
            c.stop()
            for n in range(1, args.cluster + 1):
                shutil.rmtree(bdir / f"node{n}" / "data", ignore_errors=True)
        log(f"{name} done{tag}; {uptime()}")
        return res

    runs = run_rounds(args, work, run_one)
    attach_runs(results, runs, args.repeat)
    text, rows = cluster_table(runs, args.repeat, args.cluster, cluster_rates(args))
    results["table"] = rows
    m = results["machine"]
    print(f"\n{args.cluster}-broker Gregor vs {args.cluster}-broker Apache Kafka 4.3.1, {results['date']}, "
          f"{m['nproc']} x {m['cpu_model']}, {m['ram_gib']} GiB RAM; RF={args.cluster}, min.insync.replicas=2, "
          f"acks=all, {RECORD_SIZE_BYTES} B records; Kafka JVM per node: {KAFKA_JVM_OPTS.split(' -server')[0]}"
          f"{' (QUICK)' if args.quick else ''}\n")
    print(text)
    print_repeat_note(args, runs)
    for n in names:
        for r in runs[n]:
            label = n if args.repeat == 1 else f"{n} round {r['round']}"
            print(f"\n{label}: before: {r.get('uptime_at_start', 'n/a')}\n{' ' * len(label)}  after:  "
                  f"{r.get('uptime_at_end', 'n/a')}")
    print(f"(figures are noisy when other work shares the {m['nproc']} cores)")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stem = "cluster-latest-quick" if args.quick else "cluster-latest"
    (args.results_dir / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    if not args.quick:
        (args.results_dir / f"cluster-{started.strftime('%Y-%m-%dT%H%M%SZ')}.json").write_text(
            json.dumps(results, indent=1) + "\n")
    log(f"wrote {args.results_dir}/{stem}.json; logs in {work}")
    return 0 if not failures(runs) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gregor-bin", type=Path, default=REPO / "build" / "bin" / "gregor")
    ap.add_argument("--loadgen", type=Path, default=None, help="default: gregor_loadgen next to --gregor-bin")
    ap.add_argument("--work-dir", type=Path, default=None, help="fresh broker dirs (default: <build>/bench-compare)")
    ap.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--brokers", default=None,
                    help="comma-separated subset of gregor,gregor-buffered,kafka (gregor-buffered: log.direct.io=false); "
                         "default all three, with --cluster gregor,kafka")
    ap.add_argument("--cluster", type=int, default=int(os.environ.get("BENCH_CLUSTER") or 0),
                    help="N > 1: compare an N-node Gregor cluster with an N-node Kafka cluster (replication "
                         "factor N, min.insync.replicas 2, acks=all); default $BENCH_CLUSTER or single brokers")
    ap.add_argument("--cluster-latency-rate-mbps", default=CLUSTER_LATENCY_RATES_MBPS,
                    help="comma-separated fixed produce rates of the cluster latency runs (default %(default)s)")
    ap.add_argument("--gregor-set", action="append", metavar="KEY=VALUE",
                    help="extra setting for Gregor's brokers (repeatable; recorded with the results)")
    ap.add_argument("--duration-s", type=float, default=12)
    ap.add_argument("--latency-duration-s", type=float, default=15)
    ap.add_argument("--perf", action="store_true", default=os.environ.get("BENCH_PERF") == "1",
                    help="profile Gregor with perf record during the 8-partition acks=1 run")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    ap.add_argument("--repeat", type=int, default=os.environ.get("BENCH_REPEAT") or "1", metavar="N",
                    help="run every broker N times, interleaved (A B A B ...), and report the median and "
                         "[min-max] of every figure; default $BENCH_REPEAT or 1")
    args = ap.parse_args()
    if args.repeat < 1:
        print("compare.py: --repeat needs N >= 1", file=sys.stderr)
        return 2
    args.loadgen = args.loadgen or args.gregor_bin.parent / "gregor_loadgen"
    if args.cluster == 1:
        args.cluster = 0
    if args.cluster < 0 or (args.cluster and args.cluster < 3):
        print("compare.py: --cluster needs at least 3 nodes (min.insync.replicas is 2)", file=sys.stderr)
        return 2
    if args.brokers is None:
        args.brokers = "gregor,kafka" if args.cluster else "gregor,gregor-buffered,kafka"
    if args.cluster and "gregor-buffered" in args.brokers.split(","):
        print("compare.py: --cluster runs gregor and kafka only", file=sys.stderr)
        return 2
    for path in (args.gregor_bin, args.loadgen):
        if not path.exists():
            print(f"compare.py: {path} not found (make build; librdkafka-dev for gregor_loadgen)", file=sys.stderr)
            return 2
    work = (args.work_dir or args.gregor_bin.parent.parent / "bench-compare").resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    classpath = subprocess.run([str(TOOLS / "kafka-classpath.sh")], capture_output=True, text=True,
                               check=True).stdout.strip()
    if args.cluster:
        return main_cluster(args, classpath, work)
    started = dt.datetime.now(dt.timezone.utc)
    results: dict = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick,
                     "machine": machine_info(), "record_size_bytes": RECORD_SIZE_BYTES,
                     "command": ("BENCH_QUICK=1 " if args.quick else "") + "make bench-compare" + repeat_suffix(args),
                     **({"gregor": {}, "gregor-buffered": {}, "kafka": {}} if args.repeat == 1 else {})}
    run = runner(args, classpath, work)

    def run_one(name: str, bdir: Path, tag: str) -> dict:
        b = (gregor_broker(name, bdir, args.gregor_bin.resolve(), gregor_sets(args)) if name.startswith("gregor")
             else kafka_broker(name, bdir))
        res: dict = {}
        settle_disk(res)
        log(f"starting {name}{tag}; synced {res['dirty_mib_before_start']:.0f} MiB dirty in {res['sync_before_start_s']:.1f} s")
        try:
            b.start()
            log(f"{name} listening on {b.bootstrap} after {b.start_ms:.1f} ms (pid {b.pid})")
            res.update(run.run_all(b))
        except Exception as exc:  # one broker failing still reports the other
            log(f"{name}: {exc}")
            res["error"] = str(exc)
        finally:
            b.stop()
            shutil.rmtree(bdir / "data", ignore_errors=True)
        return res

    runs = run_rounds(args, work, run_one)
    attach_runs(results, runs, args.repeat)
    text, rows = table(runs, args.repeat)
    results["table"] = rows
    m = results["machine"]
    print(f"\nGregor vs Apache Kafka 4.3.1, {results['date']}, {m['nproc']} x {m['cpu_model']}, "
          f"{m['ram_gib']} GiB RAM, Linux {m['kernel']}; {RECORD_SIZE_BYTES} B records; "
          f"Kafka JVM: {KAFKA_JVM_OPTS.split(' -server')[0]}{' (QUICK)' if args.quick else ''}\n")
    print(text)
    print_repeat_note(args, runs)
    loads = ", ".join(f"{n} " + " / ".join(" ".join(r.get("loadavg_at_start", [])) for r in rs)
                      for n, rs in runs.items())
    rounds = " (round 1 / round 2 / ...)" if args.repeat > 1 else ""
    print(f"\n1-, 5-, 15-minute load average when each broker's workloads began{rounds}: {loads} "
          f"(figures are noisy when other work shares the {m['nproc']} cores)")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stem = "latest-quick" if args.quick else "latest"
    (args.results_dir / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    if not args.quick:
        (args.results_dir / f"{started.strftime('%Y-%m-%dT%H%M%SZ')}.json").write_text(
            json.dumps(results, indent=1) + "\n")
    log(f"wrote {args.results_dir}/{stem}.json; logs in {work}")
    return 0 if not failures(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
