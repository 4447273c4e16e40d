"""Jepsen-style faults against replicated partitions: a 3-node cluster, one topic (replication factor
3, min.insync.replicas=2, several partitions), two idempotent acks=all writers on different clients
(confluent_kafka/librdkafka in this process, the Java client in a JVM: jepsen/JepsenProducer.java)
and a consumer group reading and committing, while rounds of faults hit the cluster: SIGKILL of a
partition leader, SIGKILL of a follower, SIGSTOP of a node past broker.session.timeout.ms (it is
fenced) or briefly, and a partition leader cut off from the other nodes by the network. Every round
ends with the cluster recovered: every node serving, every ISR full, every writer acknowledged on
every partition again.

At the end (healed, writers flushed and stopped, ISRs full) jepsen_checker checks Kafka's promise:
no acknowledged record lost or found at another offset than acknowledged, no duplicate
(idempotence), a writer's records in increasing order within each partition, the consumer group
never jumped over a record nor saw one the log lacks, its committed offsets at the end of the log,
and every replica's segment files byte-identical once the brokers stopped.

Two tests: the short one (3 rounds: leader SIGKILL, leader cut off or fenced by SIGSTOP, follower
SIGKILL; about a minute against Gregor) runs in every suite run unless GREGOR_CLUSTER_TESTS=0; the
long one (cluster_long, GREGOR_CLUSTER_TESTS=1) runs GREGOR_JEPSEN_ROUNDS rounds (default 5, one of
each kind; `make jepsen`: 50). GREGOR_JEPSEN_SEED (default random, printed) replays the choices.
GREGOR_CLUSTER_IMPL=kafka runs both against Kafka 4.3.1. `-s` prints the rounds, the acknowledged
counts and the recovery times.
"""
from __future__ import annotations

import os
import random
import subprocess
import threading
import time
import uuid
from collections import defaultdict

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import cluster_harness as ch
import harness
import jepsen_checker

pytestmark = [pytest.mark.cluster, pytest.mark.java]

ROUNDS = int(os.environ.get("GREGOR_JEPSEN_ROUNDS", "5"))
SEED = int(os.environ.get("GREGOR_JEPSEN_SEED", str(random.randrange(1 << 31))))
PARTITIONS = 4
WRITE_INTERVAL_S = 0.01           # per writer: ~100 records/s, spread round robin over the partitions
FAULT_BOUND_S = 180.0             # writes resuming during a fault (fencing, elections, client retries)
RECOVERY_BOUND_S = 300.0          # serving, full ISRs, every writer acknowledged on every partition
JAVA_SOURCE = harness.REPO_ROOT / "tests" / "integration" / "jepsen" / "JepsenProducer.java"
KINDS = ["kill_leader", "kill_follower", "pause_long", "pause_short", "isolate_leader"]


# ---------------------------------------------------------------------------------------------
# Writers and the consumer group.
# ---------------------------------------------------------------------------------------------

class _writer_base:
    """Acknowledged (partition, offset, value) of one writer, with per-partition counts."""

    def __init__(self, name: str):
        self.name = name
        self.lock = threading.Lock()
        self.acked: list[tuple[int, int, bytes]] = []
        self.per_partition: dict[int, int] = defaultdict(int)
        self.errors: list[str] = []

    def _ack(self, partition: int, offset: int, value: bytes) -> None:
        with self.lock:
            self.acked.append((partition, offset, value))
            self.per_partition[partition] += 1

    def _fail(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def counts(self) -> dict[int, int]:
        with self.lock:
            return dict(self.per_partition)

    def total(self) -> int:
        with self.lock:
            return len(self.acked)


class python_writer(_writer_base):
    """confluent_kafka (librdkafka): idempotent, acks=all, explicit partitions round robin.

    librdkafka 2.0.2 (Debian's) has idempotence bugs of its own that raise fatal
    OUT_OF_ORDER_SEQUENCE errors after a leader change also against Apache Kafka (librdkafka issue
    3584, fixed by PR 4438 in 2.3.0). A fatal error ends that producer: its queued records fail
    (recorded as purged, not acknowledged) and a new producer (a new producer id) carries on as a new
    incarnation writer "py.N", so each incarnation's sequence numbers are checked on their own. The
    fatal errors are reported, not asserted."""

    def __init__(self, bootstrap: str, topic: str, name: str = "py"):
        super().__init__(name)
        self.bootstrap = bootstrap
        self.topic = topic
        self.fatal: list[str] = []
        self.purged = 0
        self.incarnations = [name]
        self.unflushed = -1
        self._fatal_seen = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"writer-{name}", daemon=True)
        self.producer = self._new_producer()

    def _new_producer(self) -> Producer:
        return Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "message.timeout.ms": 300000, "request.timeout.ms": 30000,
                         "client.id": f"jepsen-{self.incarnations[-1]}", "log_level": 3,
                         "error_cb": self._error})

    def _error(self, err) -> None:
        if err.fatal():
            self.fatal.append(f"{self.incarnations[-1]}: {err}")
            self._fatal_seen.set()

    def _delivered(self, err, msg) -> None:
        if err is None:
            self._ack(msg.partition(), msg.offset(), msg.value())
        elif (self._fatal_seen.is_set() or err.fatal()
              or err.code() in (KafkaError._FATAL, KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)):
            with self.lock:
                self.purged += 1
        else:
            self._fail(f"{msg.partition()} {msg.value()!r}: {err}")

    def _call(self, fn, *args, **kwargs):
        """fn(*args) on the producer; a fatal error (raised by produce/poll/flush as KafkaException)
        marks this incarnation done, any other KafkaException is a failed write."""
        try:
            return fn(*args, **kwargs)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and (err.fatal() or err.code() == KafkaError._FATAL):
                self.fatal.append(f"{self.incarnations[-1]}: {err}")
                self._fatal_seen.set()
            else:
                self._fail(f"{fn.__name__}: {exc}")
            return None

    def _replace_producer(self) -> None:
        self._call(self.producer.flush, 30)   # fails what is queued (fatal), delivering the callbacks
        self.incarnations.append(f"{self.name}.{len(self.incarnations) + 1}")
        self.producer = self._new_producer()
        self._fatal_seen.clear()

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            if self._fatal_seen.is_set():
                self._replace_producer()
                seq = 0
            seq += 1
            value = f"{self.incarnations[-1]}-{seq:010d}".encode()
            while not self._stop.is_set() and not self._fatal_seen.is_set():
                try:
                    self._call(self.producer.produce, self.topic, value=value, partition=seq % PARTITIONS,
                               on_delivery=self._delivered)
                    break
                except BufferError:
                    self._call(self.producer.poll, 0.1)
            self._call(self.producer.poll, 0)
            self._stop.wait(WRITE_INTERVAL_S)
        self.unflushed = self._call(self.producer.flush, 330)
        if self._fatal_seen.is_set():
            self.unflushed = 0      # what the fatal error failed is counted as purged
        self.producer = None  # destroyed here: no connections left to brokers that are gone later

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=360)
        assert not self._thread.is_alive(), f"writer {self.name} did not finish flushing"


class java_writer(_writer_base):
    """The Java client (kafka-clients 4.3.1) in a JVM running jepsen/JepsenProducer.java, which
    prints every outcome; stdin closing tells it to flush and exit."""

    def __init__(self, classes_dir, classpath: str, bootstrap: str, topic: str, log_path, name: str = "java"):
        super().__init__(name)
        self.done_line = ""
        self.log_path = log_path
        cmd = harness.java_tool_cmd(f"{classpath}{os.pathsep}{classes_dir}", "JepsenProducer",
                                    bootstrap, topic, str(PARTITIONS), name, str(int(WRITE_INTERVAL_S * 1000)))
        self._stderr = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._thread = threading.Thread(target=self._read, name=f"writer-{name}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("ACK "):
                _, p, o, value = line.split(" ", 3)
                self._ack(int(p), int(o), value.encode())
            elif line.startswith("ERR "):
                self._fail(line[4:])
            elif line.startswith("DONE"):
                self.done_line = line

    def start(self) -> None:
        pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=360)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            self._thread.join(timeout=30)
            self._stderr.close()
        assert self.proc.returncode == 0 and self.done_line, (
            f"the Java writer exited with {self.proc.returncode} without finishing; its log:\n"
            + open(self.log_path, errors="replace").read()[-6000:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


class group_reader:
    """One member of a consumer group (confluent_kafka, classic protocol) reading the topic from the
    beginning, committing asynchronously every second, recording every delivery in order."""

    def __init__(self, bootstrap: str, topic: str):
        self.group = f"jepsen-{uuid.uuid4().hex[:8]}"
        self.topic = topic
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": self.group,
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                  "log_level": 3, "error_cb": self._error})
        self.lock = threading.Lock()
        self.seen: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
        self.high: dict[int, int] = defaultdict(lambda: -1)
        self.fatal: list[str] = []
        self.commits = 0
        self.commit_errors = 0
        self.died = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-reader", daemon=True)

    def _error(self, err) -> None:
        if err.fatal():
            self.fatal.append(str(err))

    def _run(self) -> None:
        try:
            self._consume()
        except BaseException as exc:  # noqa: BLE001 - reported by reached()/stop()
            self.died = repr(exc)
            raise

    def _consume(self) -> None:
        self.consumer.subscribe([self.topic])
        last_commit = time.monotonic()
        while not self._stop.is_set():
            msg = self.consumer.poll(0.5)
            if msg is not None:
                if msg.error():
                    if msg.error().fatal():
                        self.fatal.append(str(msg.error()))
                else:
                    with self.lock:
                        self.seen[msg.partition()].append((msg.offset(), msg.value()))
                        self.high[msg.partition()] = max(self.high[msg.partition()], msg.offset())
            if time.monotonic() - last_commit >= 1.0:
                last_commit = time.monotonic()
                self._commit(asynchronous=True)
        self._commit(asynchronous=False)
        self.consumer.close()

    def _commit(self, asynchronous: bool) -> None:
        try:
            self.consumer.commit(asynchronous=asynchronous)
            self.commits += 1
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                self.commit_errors += 1

    def start(self) -> None:
        self._thread.start()

    def reached(self, ends: dict[int, int]) -> bool:
        assert not self.died, f"the group reader died: {self.died}"
        with self.lock:
            return all(self.high[p] + 1 >= end for p, end in ends.items())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the group reader did not stop"
        assert not self.died, f"the group reader died: {self.died}"


# ---------------------------------------------------------------------------------------------
# Cluster views.
# ---------------------------------------------------------------------------------------------

def _reachable(cl) -> list:
    return [b for b in cl.brokers if b.running() and not b.stopped]


def _partitions(cl, topic: str, via=None) -> list:
    brokers = [via] if via is not None else _reachable(cl)
    last = None
    for b in brokers:
        try:
            t = ch.metadata(b.bootstrap, [topic]).topics.get(topic)
            if t is not None and t.error_code == 0 and len(t.partitions) == PARTITIONS:
                return t.partitions
        except Exception as exc:  # noqa: BLE001 - next broker
            last = exc
    raise ConnectionError(f"no broker described {topic}: {last!r}")


def _full_isr(cl, topic: str) -> bool:
    """Every broker reports a leader and all replicas in the ISR for every partition."""
    for b in cl.brokers:
        for p in _partitions(cl, topic, via=b):
            if p.leader < 0 or sorted(p.isr) != sorted(p.replicas) or len(p.replicas) != 3:
                return False
    return True


def _led_elsewhere(cl, topic: str, partition: int, victim: int):
    """The brokers other than victim agree on a leader other than victim for the partition."""
    leaders = set()
    for b in _reachable(cl):
        if b.node_id == victim:
            continue
        leaders.add(_partitions(cl, topic, via=b)[partition].leader)
    return len(leaders) == 1 and -1 not in leaders and victim not in leaders


def _fenced(cl, victim: int) -> bool:
    return all(victim not in ch.metadata(b.bootstrap, []).broker_ids
               for b in _reachable(cl) if b.node_id != victim)


def _progress(writers, before: list[dict[int, int]], per_partition: bool, at_least: int) -> bool:
    for w, b in zip(writers, before):
        assert w.alive(), f"writer {w.name} died" + (f" (its log: {w.log_path})" if hasattr(w, "log_path") else "")
        now = w.counts()
        if per_partition:
            if any(now.get(p, 0) < b.get(p, 0) + at_least for p in range(PARTITIONS)):
                return False
        elif sum(now.values()) < sum(b.values()) + at_least:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# The test.
# ---------------------------------------------------------------------------------------------

def _run_round(cl, topic: str, kind: str, rng: random.Random, writers) -> dict:
    parts = _partitions(cl, topic)
    part = rng.choice(parts)
    record = {"kind": kind, "partition": part.partition}
    before = [w.counts() for w in writers]

    def writes_flow(what: str):
        ch.wait_for(lambda: _progress(writers, before, per_partition=False, at_least=10), FAULT_BOUND_S,
                    f"every writer acknowledging again during the fault ({what})", interval_s=0.2)

    t0 = time.monotonic()
    if kind == "kill_leader":
        victim = part.leader
        cl.kill_node(victim)
        ch.wait_for(lambda: _led_elsewhere(cl, topic, part.partition, victim), FAULT_BOUND_S,
                    f"{topic}-{part.partition} led by a node other than {victim}", interval_s=0.1)
        writes_flow(f"leader {victim} killed")
        record["fault_s"] = time.monotonic() - t0
        t_recover = time.monotonic()
        cl.start_node(victim)
    elif kind == "kill_follower":
        victim = rng.choice([r for r in part.replicas if r != part.leader])
        cl.kill_node(victim)
        writes_flow(f"follower {victim} killed")     # acks=all waits for it until it leaves the ISR
        record["fault_s"] = time.monotonic() - t0
        t_recover = time.monotonic()
        cl.start_node(victim)
    elif kind == "pause_long":
        victim = rng.choice(sorted(cl.broker_ids))
        cl.pause_node(victim)
        ch.wait_for(lambda: _fenced(cl, victim), FAULT_BOUND_S, f"SIGSTOPped node {victim} fenced")
        writes_flow(f"node {victim} SIGSTOPped and fenced")
        record["fault_s"] = time.monotonic() - t0
        t_recover = time.monotonic()
        cl.cont_node(victim)
    elif kind == "pause_short":
        victim = rng.choice(sorted(cl.broker_ids))
        pause_s = rng.uniform(0.5, 3.0)             # the fault itself: well under the session timeout
        cl.pause_node(victim)
        time.sleep(pause_s)
        cl.cont_node(victim)
        record["fault_s"] = pause_s
        t_recover = time.monotonic()
    elif kind == "isolate_leader":
        victim = part.leader
        cl.isolate(victim)
        ch.wait_for(lambda: _led_elsewhere(cl, topic, part.partition, victim), FAULT_BOUND_S,
                    f"{topic}-{part.partition} led by a node other than the cut-off {victim}", interval_s=0.1)
        writes_flow(f"leader {victim} cut off")
        record["fault_s"] = time.monotonic() - t0
        t_recover = time.monotonic()
        cl.heal()
    else:
        raise AssertionError(kind)
    record["victim"] = victim

    # Recovery: serving, every ISR full, every writer acknowledged on every partition since.
    after = [w.counts() for w in writers]
    cl.wait_serving(timeout_s=RECOVERY_BOUND_S)
    ch.wait_for(lambda: _full_isr(cl, topic), RECOVERY_BOUND_S, f"{topic}: every ISR full again", interval_s=0.2)
    ch.wait_for(lambda: _progress(writers, after, per_partition=True, at_least=1), RECOVERY_BOUND_S,
                "every writer acknowledged on every partition after recovery", interval_s=0.2)
    record["recover_s"] = time.monotonic() - t_recover
    record["acked"] = sum(w.total() for w in writers)
    return record


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, "log_level": 3})
    try:
        return {tp.partition: tp.offset for tp in
                c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=30)}
    finally:
        c.close()


def _create_topic(cluster, topic: str) -> None:
    """Creates the topic (RF 3, min.insync.replicas=2), retrying while fewer than 3 brokers are
    registered: after the previous test stopped every node, the restarted brokers' registrations are
    refused (DUPLICATE_BROKER_REGISTRATION) until their old sessions expire, while Metadata already
    lists them from the metadata log, so `serving` does not imply that yet."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap(), "log_level": 3})

    def created():
        future = admin.create_topics([NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[topic]
        try:
            future.result(60)
        except KafkaException as exc:
            code = exc.args[0].code()
            if code == KafkaError.TOPIC_ALREADY_EXISTS:     # an earlier, unanswered attempt made it
                return True
            if code == KafkaError.INVALID_REPLICATION_FACTOR:
                return False
            raise AssertionError(f"creating {topic}: {exc}") from None
        return True
    ch.wait_for(created, 120, f"{topic} created with 3 replicas (every broker registered)", interval_s=1.0)


def _compile_java(out_dir, classpath: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["javac", "-d", str(out_dir), "-cp", classpath, str(JAVA_SOURCE)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"javac failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.timeout(600 + 3 * 240)
def test_jepsen_short_leader_kill_leader_cut_follower_kill(cluster, tmp_path, kafka_classpath):
    """Three rounds (part of every suite run): a partition leader SIGKILLed, a partition leader cut
    off (SIGSTOPped until fenced without network namespaces), a follower SIGKILLed."""
    cut_or_pause = "isolate_leader" if cluster.can_cut else "pause_long"
    _jepsen(cluster, tmp_path, kafka_classpath, ["kill_leader", cut_or_pause, "kill_follower"])


@pytest.mark.cluster_long
@pytest.mark.timeout(600 + ROUNDS * 240)
def test_jepsen_long_acknowledged_records_survive_kills_pauses_and_partitions(cluster, tmp_path, kafka_classpath):
    """GREGOR_JEPSEN_ROUNDS rounds; every cycle of len(KINDS) rounds runs each kind once, in an order
    drawn from GREGOR_JEPSEN_SEED."""
    rng = random.Random(SEED)
    kinds = [k for k in KINDS if k != "isolate_leader" or cluster.can_cut]
    plan: list[str] = []
    while len(plan) < ROUNDS:
        cycle = list(kinds)
        rng.shuffle(cycle)
        plan += cycle
    _jepsen(cluster, tmp_path, kafka_classpath, plan[:ROUNDS])


def _jepsen(cluster, tmp_path, kafka_classpath, plan: list[str]) -> None:
    rng = random.Random(SEED)
    kinds = sorted(set(plan), key=KINDS.index)
    print(f"\n[{cluster.impl_name}] jepsen: {len(plan)} rounds, seed {SEED} (GREGOR_JEPSEN_SEED), kinds {kinds}")
    _compile_java(tmp_path / "classes", kafka_classpath)

    topic = harness.unique_topic("jepsen")
    _create_topic(cluster, topic)
    ch.wait_for(lambda: _full_isr(cluster, topic), 120, f"{topic} fully in sync")

    bootstrap = cluster.bootstrap()
    py = python_writer(bootstrap, topic)
    java = java_writer(tmp_path / "classes", kafka_classpath, bootstrap, topic, tmp_path / "java-writer.log")
    writers = [py, java]
    reader = group_reader(bootstrap, topic)
    rounds: list[dict] = []
    try:
        py.start()
        reader.start()
        ch.wait_for(lambda: _progress(writers, [{}, {}], per_partition=True, at_least=5), 180,
                    "both writers acknowledged on every partition (the JVM starts slowly)")
        for i, kind in enumerate(plan):
            r = _run_round(cluster, topic, kind, rng, writers)
            rounds.append(r)
            print(f"  round {i + 1:3d} {kind:14s} node {r['victim']} (partition {r['partition']}): "
                  f"writes flowing again after {r['fault_s']:.2f}s, recovered in {r['recover_s']:.2f}s; "
                  f"acked so far {r['acked']}", flush=True)

        # The end: everything healed and in sync, writers flushed and stopped.
        cluster.restore(timeout_s=RECOVERY_BOUND_S)
        ch.wait_for(lambda: _full_isr(cluster, topic), RECOVERY_BOUND_S, f"{topic}: every ISR full at the end")
        py.stop()
        java.stop()
    except BaseException:
        java.kill()
        raise
    ch.wait_for(lambda: _full_isr(cluster, topic), RECOVERY_BOUND_S, f"{topic}: every ISR full after the writers")
    log, starts, ends = ch.read_partitions(cluster.bootstrap(), topic, PARTITIONS)
    assert all(s == 0 for s in starts.values()), f"log start offsets moved: {starts}"
    ch.wait_for(lambda: reader.reached(ends), 300, f"the consumer group reaching the ends {ends}")
    reader.stop()
    committed = _committed(cluster.bootstrap(), reader.group, topic)

    # Every replica has every batch on disk before the brokers stop.
    def replicas_complete():
        return all(jepsen_checker.next_offset_on_disk(n.log_dir, topic, p) >= ends[p]
                   for n in cluster.brokers for p in range(PARTITIONS))
    ch.wait_for(replicas_complete, 180, f"every replica holding offsets up to {ends}")
    for n in cluster.brokers:
        cluster.terminate_node(n.node_id)
    differing = []
    sizes = {}
    for p in range(PARTITIONS):
        images = {n.node_id: jepsen_checker.partition_bytes(n.log_dir, topic, p) for n in cluster.brokers}
        sizes[p] = {k: len(v) for k, v in images.items()}
        ref_id = min(images)
        for node_id, data in images.items():
            if data != images[ref_id]:
                differing.append((p, ref_id, node_id, len(images[ref_id]), len(data),
                                  jepsen_checker.first_difference(images[ref_id], data)))

    acked: dict[str, list] = defaultdict(list)      # per writer incarnation (the value's prefix)
    for w in writers:
        for p, o, value in w.acked:
            acked[jepsen_checker.split_value(value)[0]].append((p, o, value))
    v = jepsen_checker.check(dict(acked), log, dict(reader.seen), set(py.incarnations) | {java.name})

    # The summary.
    print(f"  rounds by kind: {jepsen_checker.summary_by(rounds, key=lambda r: r['kind'])}")
    for kind in kinds:
        rec = [r["recover_s"] for r in rounds if r["kind"] == kind]
        flt = [r["fault_s"] for r in rounds if r["kind"] == kind]
        if rec:
            print(f"    {kind:14s} writes resumed after max {max(flt):.2f}s; recovery "
                  f"min {min(rec):.2f}s max {max(rec):.2f}s mean {sum(rec) / len(rec):.2f}s")
    print(f"  writers: " + "; ".join(f"{w.name} acked {w.total()}, failed {len(w.errors)}" for w in writers)
          + f"; java: {java.done_line}")
    print(f"  librdkafka fatal errors (client bugs, see python_writer): {len(py.fatal)}, incarnations "
          f"{py.incarnations}, records failed by them {py.purged}" + "".join(f"\n    {f}" for f in py.fatal))
    print(f"  consumer group {reader.group}: {sum(len(s) for s in reader.seen.values())} deliveries, "
          f"{reader.commits} commits ({reader.commit_errors} failed), committed {committed}, ends {ends}")
    print(f"  replica bytes per partition: {sizes}; differing {differing}")
    print("  " + v.report().replace("\n", "\n  "))

    assert not reader.fatal, f"consumer fatal errors: {reader.fatal}"
    assert py.unflushed == 0, f"{py.unflushed} records still undelivered after flush"
    for w in writers:
        assert not w.errors, f"{w.name}: {len(w.errors)} deliveries failed, e.g. {w.errors[:5]}"
    assert v.ok(), v.report()
    assert committed == ends, f"group {reader.group} committed {committed}, log ends {ends}"
    assert not differing, f"replica logs differ (partition, reference node, node, sizes, first difference): {differing}"


def test_jepsen_checker_finds_every_kind_of_violation():
    """The checker is not vacuous: a made-up history with one violation of each kind."""
    log = {0: {0: b"a-0000000001", 1: b"b-0000000001", 2: b"a-0000000003", 3: b"a-0000000002",
               4: b"b-0000000001", 5: b"x-0000000001"}}
    acked = {"a": [(0, 0, b"a-0000000001"), (0, 6, b"a-0000000009"), (0, 1, b"a-0000000003")],
             "b": [(0, 1, b"b-0000000001")]}
    consumed = {0: [(0, b"a-0000000001"), (2, b"a-0000000003"), (3, b"a-0000000099")]}
    v = jepsen_checker.check(acked, log, consumed, {"a", "b"})
    assert v.violations() == {"lost": 1, "moved": 1, "acked twice": 0, "duplicates": 1, "reordered": 2,
                              "foreign values": 1, "consumer skipped": 1, "consumer saw non-log records": 1}, v.report()
    clean = jepsen_checker.check({"a": [(0, 0, b"a-0000000001")]}, {0: {0: b"a-0000000001"}},
                                 {0: [(0, b"a-0000000001"), (0, b"a-0000000001")]}, {"a"})
    assert clean.ok(), clean.report()
    # Acknowledged without an offset (librdkafka's implicit ack after a lost response): present in
    # its partition is enough; in another partition it moved; nowhere, it is lost.
    log2 = {0: {0: b"a-0000000001", 1: b"a-0000000002"}, 1: {0: b"a-0000000003"}}
    implicit = jepsen_checker.check({"a": [(0, None, b"a-0000000002")]}, log2, {}, {"a"})
    assert implicit.ok(), implicit.report()
    elsewhere = jepsen_checker.check({"a": [(0, None, b"a-0000000003")]}, log2, {}, {"a"})
    assert elsewhere.violations()["moved"] == 1, elsewhere.report()
    gone = jepsen_checker.check({"a": [(0, None, b"a-0000000009")]}, log2, {}, {"a"})
    assert gone.violations()["lost"] == 1, gone.report()
