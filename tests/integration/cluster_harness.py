"""A multi-node cluster for the `cluster` tests: N nodes of Gregor or of Apache Kafka 4.3.1 (KRaft),
started the same way, with the same handle for either implementation.

`cluster` owns every node process, their directories and logs, and (by default) one network
namespace per node so a test can cut a node off from the others and heal it again. It is used from
one thread (the test's); only the wire helpers may be called from other threads. Invariants: every
process it started is stopped and every namespace it created is removed by `close()`, which the
fixture calls even when a test fails; nothing here waits a fixed time, every wait is for a condition
with a generous bound.

Choosing what runs:
- GREGOR_CLUSTER_IMPL=gregor (default) runs GREGOR_BIN (default build/bin/gregor) with `--set`
  options exactly as an operator would start Kafka's combined mode; GREGOR_CLUSTER_IMPL=kafka runs
  kafka_2.13 4.3.1 from ~/.m2 (formatted by `kafka.tools.StorageTool` with one cluster id).
- GREGOR_CLUSTER_NET=netns (default when root and `ip netns` works) gives node i the address
  10.213.K.i in namespace gcKn<i>, joined by a bridge gcbrK whose address 10.213.K.254 is in the
  root namespace, so clients here reach every node. A cut replaces the neighbour entries of the
  chosen pairs with a MAC nobody owns (permanent entries on both sides): frames between them are
  silently dropped, like a DROP rule, while the root namespace still reaches every node. (This
  sandbox has no iptables/nft binaries and no tc drop action; neighbour entries need only iproute2.)
  GREGOR_CLUSTER_NET=loopback puts every node on 127.0.0.1 with free ports; cutting is then
  unsupported and tests that need it skip.

Wire helpers at the bottom (Metadata v1, DescribeQuorum, DescribeCluster, CreateTopics v4) talk to
one chosen node, which the client libraries cannot be made to do.
"""
from __future__ import annotations

import atexit
import base64
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import broker_health
import harness
import kafka_wire

IMPL_ENV = "GREGOR_CLUSTER_IMPL"
NET_ENV = "GREGOR_CLUSTER_NET"
ENABLE_ENV = "GREGOR_CLUSTER_TESTS"

KAFKA_PORT = 9092        # per node in netns mode (every node has its own address)
CONTROLLER_PORT = 9093
HTTP_PORT = 9644

START_TIMEOUT_S = 180.0  # a cold JVM cluster on two shared cores is slow
STOP_TIMEOUT_S = 30.0
SERVE_TIMEOUT_S = float(os.environ.get("GREGOR_CLUSTER_SERVE_TIMEOUT_S", "180"))

METADATA_TOPIC = "__cluster_metadata"


def impl_name() -> str:
    impl = os.environ.get(IMPL_ENV, "gregor").strip().lower()
    if impl not in ("gregor", "kafka"):
        raise ValueError(f"{IMPL_ENV}={impl!r}: expected gregor or kafka")
    return impl


class cut_unsupported(Exception):
    """Raised by cut/isolate when the cluster runs without network namespaces."""


# --------------------------------------------------------------------------------------------
# Network: namespaces joined by a bridge, or plain loopback.
# --------------------------------------------------------------------------------------------

def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def netns_available() -> tuple[bool, str]:
    """Whether this process can build namespaces (root, iproute2 with netns and veth)."""
    if os.geteuid() != 0:
        return False, "not root"
    if shutil.which("ip") is None:
        return False, "no ip (iproute2)"
    probe = f"gcprobe{os.getpid() % 100000}"
    try:
        _run("ip", "netns", "add", probe)
    except (RuntimeError, OSError) as exc:
        return False, f"ip netns add failed: {exc}"
    finally:
        _run("ip", "netns", "del", probe, check=False)
    return True, ""


class loopback_network:
    """Every node on 127.0.0.1 with its own free ports; no cutting."""

    kind = "loopback"

    def setup(self, node_ids: list[int]) -> None:
        pass

    def host(self, node_id: int) -> str:
        return "127.0.0.1"

    def ports(self, node_id: int) -> tuple[int, int, int]:
        return harness.free_port(), harness.free_port(), harness.free_port()

    def wrap(self, node_id: int, cmd: list[str]) -> list[str]:
        return cmd

    def cut(self, a: int, b: int) -> None:
        raise cut_unsupported("GREGOR_CLUSTER_NET=loopback cannot cut links (needs network namespaces)")

    def heal_link(self, a: int, b: int) -> None:
        pass

    def close(self) -> None:
        pass


class netns_network:
    """One namespace per node on a private bridge (see the module comment). Owner: its cluster."""

    kind = "netns"

    def __init__(self):
        self.index = self._free_index()
        self.prefix = f"10.213.{self.index}"
        self.bridge = f"gcbr{self.index}"
        self.node_ids: list[int] = []
        self._created_ns: list[str] = []
        self._veths: list[str] = []
        self._bridge_created = False
        self.cut_links: set[tuple[int, int]] = set()

    @staticmethod
    def _free_index() -> int:
        remove_stale_networks()
        # Namespace teardown is asynchronous in the kernel: a deleted namespace's veth can outlive
        # it for a while, so an index is free only when no link or namespace of it is left.
        links = set(re.findall(r"^\d+:\s+([^:@\s]+)", _run("ip", "-o", "link", "show", check=False).stdout,
                               re.M))
        names = set(_run("ip", "netns", "list", check=False).stdout.split())
        start = random.randrange(200)
        for k in range(200):
            index = (start + k) % 200 + 20
            taken = any(re.fullmatch(rf"gc(br{index}|{index}v\d+)", n) for n in links) \
                or any(n.startswith(f"gc{index}n") for n in names)
            if not taken and not (OWNERS_DIR / str(index)).exists():
                return index
        raise RuntimeError("no free 10.213.K.0/24 index for the cluster bridge")

    def ns(self, node_id: int) -> str:
        return f"gc{self.index}n{node_id}"

    def host(self, node_id: int) -> str:
        return f"{self.prefix}.{node_id}"

    def ports(self, node_id: int) -> tuple[int, int, int]:
        return KAFKA_PORT, CONTROLLER_PORT, HTTP_PORT

    @staticmethod
    def _bogus_mac(node_id: int) -> str:
        return f"02:de:ad:00:{(node_id >> 8) & 0xff:02x}:{node_id & 0xff:02x}"

    def setup(self, node_ids: list[int]) -> None:
        assert all(0 < i < 254 for i in node_ids), node_ids
        OWNERS_DIR.mkdir(parents=True, exist_ok=True)
        (OWNERS_DIR / str(self.index)).write_text(f"{os.getpid()}\n")
        self._owned = True
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        self._bridge_created = True
        _run("ip", "addr", "add", f"{self.prefix}.254/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for node_id in node_ids:
            self.add_node(node_id)

    def add_node(self, node_id: int) -> None:
        ns = self.ns(node_id)
        veth = f"gc{self.index}v{node_id}"
        _run("ip", "netns", "add", ns)
        self._created_ns.append(ns)
        self.node_ids.append(node_id)
        self._veths.append(veth)
        if _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
                check=False).returncode != 0:
            # A veth of that name left by an earlier cluster whose namespace is still being torn down.
            _run("ip", "link", "del", veth, check=False)
            _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _run("ip", "link", "set", veth, "master", self.bridge)
        _run("ip", "link", "set", veth, "up")
        _run("ip", "-n", ns, "addr", "add", f"{self.host(node_id)}/24", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")

    def wrap(self, node_id: int, cmd: list[str]) -> list[str]:
        # `ip netns exec` execs the command in place: the child's pid is the node's pid.
        return ["ip", "netns", "exec", self.ns(node_id)] + cmd

    def _blind(self, viewer: int, target: int) -> None:
        _run("ip", "-n", self.ns(viewer), "neigh", "replace", self.host(target), "lladdr",
             self._bogus_mac(target), "dev", "eth0", "nud", "permanent")

    def _unblind(self, viewer: int, target: int) -> None:
        _run("ip", "-n", self.ns(viewer), "neigh", "del", self.host(target), "dev", "eth0", check=False)

    def cut(self, a: int, b: int) -> None:
        self._blind(a, b)
        self._blind(b, a)
        self.cut_links.add((min(a, b), max(a, b)))

    def heal_link(self, a: int, b: int) -> None:
        self._unblind(a, b)
        self._unblind(b, a)
        self.cut_links.discard((min(a, b), max(a, b)))

    def close(self) -> None:
        # Deleting a namespace deletes its veths too, but asynchronously: delete our ends first so
        # that the names are free when this call returns.
        for veth in self._veths:
            _run("ip", "link", "del", veth, check=False)
        self._veths.clear()
        for ns in self._created_ns:
            _run("ip", "netns", "del", ns, check=False)
        self._created_ns.clear()
        if self._bridge_created:
            _run("ip", "link", "del", self.bridge, check=False)
            self._bridge_created = False
        if getattr(self, "_owned", False):
            (OWNERS_DIR / str(self.index)).unlink(missing_ok=True)
            self._owned = False


OWNERS_DIR = Path("/run/gregor-cluster-net")  # one file per bridge index, holding the owner's pid


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale_networks() -> list[int]:
    """Removes what a harness killed before its teardown left behind: for each bridge index whose
    owner pid is dead, SIGKILLs the processes still inside its namespaces (nodes the dead harness
    started) and deletes the namespaces and the bridge. Returns the indexes cleaned."""
    cleaned = []
    if not OWNERS_DIR.is_dir():
        return cleaned
    names = _run("ip", "netns", "list", check=False).stdout.split()
    links = _run("ip", "-o", "link", "show", check=False).stdout
    for owner in OWNERS_DIR.iterdir():
        try:
            index, pid = int(owner.name), int(owner.read_text().split()[0])
        except (ValueError, IndexError, OSError):
            continue
        if _pid_alive(pid):
            continue
        for ns in (n for n in names if n.startswith(f"gc{index}n")):
            for leftover in _run("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(leftover), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _run("ip", "netns", "del", ns, check=False)
        for veth in re.findall(rf"^\d+:\s+(gc{index}v\d+)[@:]", links, re.M):
            _run("ip", "link", "del", veth, check=False)
        _run("ip", "link", "del", f"gcbr{index}", check=False)
        owner.unlink(missing_ok=True)
        cleaned.append(index)
    return cleaned


def make_network():
    choice = os.environ.get(NET_ENV, "").strip().lower()
    if choice == "loopback":
        return loopback_network()
    ok, why = netns_available()
    if choice == "netns" and not ok:
        raise RuntimeError(f"{NET_ENV}=netns but namespaces are unavailable: {why}")
    return netns_network() if ok else loopback_network()


# --------------------------------------------------------------------------------------------
# Nodes.
# --------------------------------------------------------------------------------------------

@dataclass
class node:
    """One node of the cluster: its id, roles, addresses, directory and (when running) process."""

    node_id: int
    roles: tuple[str, ...]          # ("broker", "controller"), ("controller",) or ("broker",)
    host: str
    port: int                       # Kafka protocol (PLAINTEXT); unused for controller-only nodes
    controller_port: int            # CONTROLLER listener; unused for broker-only nodes
    http_port: int
    work_dir: Path
    proc: subprocess.Popen | None = None
    starts: int = 0
    stopped: bool = False           # SIGSTOPped and not yet continued
    log_mark: int = 0               # log size when the current test began
    start_mark: int = 0             # log size when the current process was launched
    unfenced_mark: int = -1         # start_mark of the process last seen unfenced
    # A controller added later (add_controller): it finds the quorum through
    # controller.quorum.bootstrap.servers and starts as an observer until AddRaftVoter adds it.
    added: bool = False
    # Exit codes, signals and sanitizer reports of every launch, checked after every test.
    health: broker_health.watch | None = None
    # Listeners besides PLAINTEXT (cluster's extra_listeners): listener name -> port.
    extra_ports: dict = field(default_factory=dict)

    def bootstrap_for(self, listener: str) -> str:
        return f"{self.host}:{self.extra_ports[listener]}"

    @property
    def log_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def stderr_path(self) -> Path:  # name shared with harness.gregor_process (conftest prints it)
        return self.work_dir / "node.log"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_broker(self) -> bool:
        return "broker" in self.roles

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self, max_bytes: int = 12000) -> str:
        """The log written since the current test began (at most max_bytes of its end)."""
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                start = max(self.log_mark, size - max_bytes)
                if start > size:
                    start = max(0, size - max_bytes)
                f.seek(start)
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class gregor_impl:
    """Starts nodes as `gregor serve --set ...` (Gregor creates the cluster id itself)."""

    name = "gregor"
    # What a broker logs once the controller unfenced its current registration.
    unfenced_line = b"is unfenced by the controller"

    def __init__(self, base: Path):
        self.binary = harness.gregor_binary()

    def prepare(self, cl: "cluster", n: node) -> None:
        n.log_dir.mkdir(parents=True, exist_ok=True)

    def command(self, cl: "cluster", n: node) -> list[str]:
        sets = cl.node_config(n)
        sets["http.listeners"] = f"http://{n.host}:{n.http_port}"
        for item in os.environ.get("GREGOR_TEST_SETS", "").split():
            name, _, value = item.partition("=")
            sets[name] = value
        cmd = [str(self.binary), "serve"]
        for name, value in sets.items():
            cmd += ["--set", f"{name}={value}"]
        return cmd


def kafka_uuid() -> str:
    """A random id in Kafka's text form without '-', as Kafka's Uuid.randomUuid() draws them (an id
    starting with '-' reads as an option to kafka-storage format and the other tools)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if "-" not in text:
            return text


class kafka_impl:
    """Starts nodes as Apache Kafka 4.3.1 (kafka.Kafka with a generated server.properties), each
    directory formatted once with the cluster's one cluster id."""

    name = "kafka"
    unfenced_line = b"The broker has been unfenced"  # BrokerLifecycleManager, INFO
    heap_opts = os.environ.get("GREGOR_CLUSTER_KAFKA_HEAP", "-Xmx384m -Xms128m")

    def __init__(self, base: Path, jvm_options: list[str] | None = None):
        self.classpath = harness.kafka_classpath()
        self.jvm_options = list(jvm_options or [])  # -D system properties of the broker JVMs
        self.cluster_id = kafka_uuid()
        self._directory_ids: dict[int, str] = {}
        self.log4j2 = base / "log4j2.properties"
        self.log4j = base / "log4j.properties"
        # INFO from the broker, controller and Raft (elections, fencing), WARN from the rest.
        self.log4j.write_text(
            "log4j.rootLogger=INFO, out\n"
            "log4j.appender.out=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.out.Target=System.err\n"
            "log4j.appender.out.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.state.change.logger=WARN\n"
            "log4j.logger.kafka.log.LogCleaner=WARN\n"
            "log4j.logger.org.apache.kafka.clients=WARN\n"
            "log4j.logger.org.apache.kafka.common=WARN\n"
            "log4j.logger.org.apache.kafka.storage.internals.log=WARN\n"
            "log4j.logger.kafka.log=WARN\n"
            "log4j.logger.kafka.cluster.Partition=WARN\n"
            "log4j.logger.org.apache.kafka.clients.NetworkClient=ERROR\n")
        self.log4j2.write_text(
            "status = warn\n"
            "appender.out.type = Console\nappender.out.name = OUT\nappender.out.target = SYSTEM_ERR\n"
            "appender.out.layout.type = PatternLayout\n"
            "appender.out.layout.pattern = %d{ISO8601} %p [%c{1}] %m%n\n"
            "rootLogger.level = info\nrootLogger.appenderRef.out.ref = OUT\n"
            "logger.state.name = state.change.logger\nlogger.state.level = warn\n"
            "logger.cleaner.name = kafka.log.LogCleaner\nlogger.cleaner.level = warn\n"
            "logger.clients.name = org.apache.kafka.clients\nlogger.clients.level = warn\n"
            "logger.common.name = org.apache.kafka.common\nlogger.common.level = warn\n")

    def _java(self, main_class: str, *args: str) -> list[str]:
        return (["java", *self.heap_opts.split(), "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
                 "-Djava.awt.headless=true", *self.jvm_options,
                 f"-Dlog4j2.configurationFile={self.log4j2}",
                 f"-Dlog4j.configuration=file:{self.log4j}",
                 f"-Dkafka.logs.dir={self._logs_dir}",
                 "-cp", self.classpath, main_class, *args])

    def prepare(self, cl: "cluster", n: node) -> None:
        self._logs_dir = cl.base / "kafka-logs"
        self._logs_dir.mkdir(exist_ok=True)
        n.log_dir.mkdir(parents=True, exist_ok=True)
        props = cl.node_config(n)
        format_args = []
        if n.added:
            # A controller to be added to a dynamic quorum (KIP-853): formatted without initial
            # controllers; it fetches as an observer until add-controller makes it a voter.
            format_args = ["--no-initial-controllers"]
        elif cl.layout == "split" and n.is_controller:
            # Kafka's broker-only nodes find the controllers' endpoints through bootstrap servers
            # only with a dynamic quorum (kraft.version 1, KIP-853): the controllers get the same
            # bootstrap list and are formatted with the initial voter set, directory ids included.
            props.pop("controller.quorum.voters")
            props["controller.quorum.bootstrap.servers"] = ",".join(
                f"{c.host}:{c.controller_port}" for c in cl.initial_controllers)
            format_args = ["--initial-controllers", ",".join(
                f"{c.node_id}@{c.host}:{c.controller_port}:{self._directory_id(c.node_id)}"
                for c in cl.initial_controllers)]
        props.update(cl.kafka_extra_props)
        path = n.work_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        if not (n.log_dir / "meta.properties").exists():
            proc = subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", self.cluster_id,
                                             "-c", str(path), *format_args),
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"kafka-storage format of node {n.node_id} failed:\n{proc.stdout}\n{proc.stderr}")

    def _directory_id(self, node_id: int) -> str:
        if node_id not in self._directory_ids:
            self._directory_ids[node_id] = kafka_uuid()
        return self._directory_ids[node_id]

    def command(self, cl: "cluster", n: node) -> list[str]:
        return self._java("kafka.Kafka", str(n.work_dir / "server.properties"))


# --------------------------------------------------------------------------------------------
# The cluster.
# --------------------------------------------------------------------------------------------

class cluster:
    """N nodes in combined mode (every node broker+controller) or a split layout (controller-only
    voters plus broker-only nodes that find them through controller.quorum.bootstrap.servers).

    Node ids double as the last octet of the node's namespace address: combined 1..n; split
    controllers 1..c, brokers c+1..c+n."""

    def __init__(self, base: Path, nodes: int = 3, layout: str = "combined", controllers: int = 3,
                 impl: str | None = None, extra_config: dict[str, str] | None = None,
                 kafka_extra_props: dict[str, str] | None = None,
                 node_extra_config: dict[int, dict[str, str]] | None = None,
                 extra_listeners: dict[str, str] | None = None, inter_broker_listener: str = "PLAINTEXT",
                 controller_protocol: str = "PLAINTEXT", kafka_jvm_options: list[str] | None = None):
        """node_extra_config: settings of single nodes ({node id: {name: value}}, e.g. broker.rack),
        applied after extra_config, for both implementations.
        extra_listeners: more broker listeners besides PLAINTEXT (which the harness itself uses),
        {name: security protocol}, each on its own port (node.extra_ports, node.bootstrap_for);
        inter_broker_listener may name one of them, and controller_protocol secures CONTROLLER.
        kafka_jvm_options: JVM options of Kafka's nodes only (system properties such as
        org.apache.kafka.sasl.oauthbearer.allowed.urls), ignored by Gregor."""
        self.extra_listeners = dict(extra_listeners or {})
        self.inter_broker_listener = inter_broker_listener
        self.controller_protocol = controller_protocol
        assert layout in ("combined", "split"), layout
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.layout = layout
        self.impl_name = impl or impl_name()
        self.extra_config = dict(extra_config or {})
        self.kafka_extra_props = dict(kafka_extra_props or {})
        self.node_extra_config = {i: dict(c) for i, c in (node_extra_config or {}).items()}
        self.network = None
        self.nodes: dict[int, node] = {}
        self._closed = False
        self.launched_at = 0.0
        atexit.register(self.close)  # also when the run is interrupted before fixture teardown
        if layout == "combined":
            plan = [(i, ("broker", "controller")) for i in range(1, nodes + 1)]
        else:
            plan = [(i, ("controller",)) for i in range(1, controllers + 1)]
            plan += [(controllers + j, ("broker",)) for j in range(1, nodes + 1)]
        try:
            self.impl = kafka_impl(self.base, kafka_jvm_options) if self.impl_name == "kafka" else gregor_impl(self.base)
            self.network = make_network()
            self.network.setup([i for i, _ in plan])
            for node_id, roles in plan:
                port, cport, hport = self.network.ports(node_id)
                self.nodes[node_id] = node(node_id, roles, self.network.host(node_id), port, cport, hport,
                                           self.base / f"node{node_id}")
                self.nodes[node_id].extra_ports = {name: harness.free_port() for name in self.extra_listeners}
                self.nodes[node_id].work_dir.mkdir(parents=True, exist_ok=True)
        except BaseException:
            self.close()
            raise

    # ---- views
    @property
    def processes(self) -> list[node]:  # what conftest prints the logs of on failure
        return list(self.nodes.values())

    @property
    def brokers(self) -> list[node]:
        return [n for n in self.nodes.values() if n.is_broker]

    @property
    def controllers(self) -> list[node]:
        return [n for n in self.nodes.values() if n.is_controller]

    @property
    def initial_controllers(self) -> list[node]:
        """The controllers the cluster was started with (the initial voters)."""
        return [n for n in self.controllers if not n.added]

    @property
    def voter_ids(self) -> set[int]:
        return {n.node_id for n in self.initial_controllers}

    @property
    def broker_ids(self) -> set[int]:
        return {n.node_id for n in self.brokers}

    def bootstrap(self, exclude: set[int] | frozenset = frozenset()) -> str:
        """host:port of every broker (minus `exclude`), comma separated."""
        return ",".join(n.bootstrap for n in self.brokers if n.node_id not in exclude)

    def node_config(self, n: node) -> dict[str, str]:
        """The settings both implementations get, by Kafka's names, in the brief's order."""
        voters = ",".join(f"{c.node_id}@{c.host}:{c.controller_port}" for c in self.initial_controllers)
        listeners, protocol_map = [], [f"CONTROLLER:{self.controller_protocol}"]
        advertised = []
        if n.is_broker:
            listeners.append(f"PLAINTEXT://{n.host}:{n.port}")
            advertised.append(f"PLAINTEXT://{n.host}:{n.port}")
            protocol_map.insert(0, "PLAINTEXT:PLAINTEXT")
            for name, protocol in self.extra_listeners.items():
                listeners.append(f"{name}://{n.host}:{n.extra_ports[name]}")
                advertised.append(f"{name}://{n.host}:{n.extra_ports[name]}")
                protocol_map.insert(-1, f"{name}:{protocol}")
        if n.is_controller:
            listeners.append(f"CONTROLLER://{n.host}:{n.controller_port}")
        sets = {"process.roles": ",".join(n.roles), "node.id": str(n.node_id)}
        if n.is_controller and not n.added:
            sets["controller.quorum.voters"] = voters
        else:
            sets["controller.quorum.bootstrap.servers"] = ",".join(
                f"{c.host}:{c.controller_port}" for c in self.initial_controllers)
        sets["listeners"] = ",".join(listeners)
        if n.is_broker:
            sets["advertised.listeners"] = ",".join(advertised)
        sets["controller.listener.names"] = "CONTROLLER"
        sets["listener.security.protocol.map"] = ",".join(protocol_map)
        if n.is_broker:
            sets["inter.broker.listener.name"] = self.inter_broker_listener
        sets["log.dirs"] = str(n.log_dir)
        sets.update(self.extra_config)
        sets.update(self.node_extra_config.get(n.node_id, {}))
        return sets

    # ---- process control
    def start(self, wait: bool = True, timeout_s: float = SERVE_TIMEOUT_S) -> "cluster":
        """Starts every node that is not running (controllers first) and, with wait, waits until
        the cluster serves."""
        pending = [n for n in sorted(self.nodes.values(), key=lambda n: (not n.is_controller, n.node_id))
                   if not n.running()]
        for n in pending:  # Kafka: format every directory first, so the launches are close together
            self.impl.prepare(self, n)
        self.launched_at = time.monotonic()
        for n in pending:
            self.start_node(n.node_id, wait=False)
        if wait:
            self.wait_serving(timeout_s=timeout_s)
        return self

    def add_controller(self, node_id: int) -> node:
        """A new controller-only node (not started): process.roles=controller with
        controller.quorum.bootstrap.servers, so it joins the running quorum as an observer
        (KIP-853's add-controller then makes it a voter). Not among voter_ids."""
        assert node_id not in self.nodes, node_id
        if isinstance(self.network, netns_network):
            self.network.add_node(node_id)
        port, cport, hport = self.network.ports(node_id)
        n = node(node_id, ("controller",), self.network.host(node_id), port, cport, hport,
                 self.base / f"node{node_id}", added=True)
        n.work_dir.mkdir(parents=True, exist_ok=True)
        self.nodes[node_id] = n
        return n

    def start_node(self, node_id: int, wait: bool = True, timeout_s: float = START_TIMEOUT_S) -> node:
        """Starts one node on its directory (a restart keeps its data); with wait, until its
        listener answers (Kafka protocol for brokers, TCP accept for controller-only nodes)."""
        n = self.nodes[node_id]
        assert not n.running(), f"node {node_id} is already running"
        self.impl.prepare(self, n)
        cmd = self.network.wrap(node_id, self.impl.command(self, n))
        n.starts += 1
        with open(n.stderr_path, "ab") as out:
            out.write(f"\n===== {self.impl_name} node {node_id} start #{n.starts} "
                      f"{time.strftime('%H:%M:%S')}: {' '.join(cmd)}\n".encode())
            out.flush()
            n.start_mark = out.tell()
            n.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                      cwd=n.work_dir, start_new_session=True)
        if n.health is None:
            kafka = self.impl_name == "kafka"  # a JVM ends a SIGTERM with 143 and may stop slowly
            n.health = broker_health.watch(f"{self.impl_name} node {n.node_id}", n.stderr_path,
                                           clean_codes=(0, 143) if kafka else (0,), strict_stop=not kafka)
        n.health.started(n.proc)
        n.stopped = False
        if wait:
            self.wait_node_listening(node_id, timeout_s=timeout_s)
        return n

    def wait_node_listening(self, node_id: int, timeout_s: float = START_TIMEOUT_S) -> None:
        n = self.nodes[node_id]

        def up():
            if not n.running():
                raise AssertionError(f"node {node_id} exited with {n.proc.returncode if n.proc else None} "
                                     f"during start; log:\n{n.stderr_tail()}")
            if n.is_broker:
                return kafka_wire.broker_answers(n.bootstrap, timeout_s=2.0)
            return _tcp_accepts(n.host, n.controller_port)

        _wait(up, timeout_s, f"node {node_id} listening")

    def signal_node(self, node_id: int, sig: int) -> None:
        n = self.nodes[node_id]
        assert n.proc is not None, f"node {node_id} was never started"
        n.health.sending(sig)
        os.kill(n.proc.pid, sig)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL (to the node's process group) and reap it."""
        n = self.nodes[node_id]
        if n.proc is None:
            return
        n.health.sending(signal.SIGKILL)
        try:
            os.killpg(n.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        n.health.reaped(n.proc.wait(timeout=STOP_TIMEOUT_S))
        n.proc = None
        n.stopped = False

    def terminate_node(self, node_id: int, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM and wait for the exit (SIGKILL after timeout_s). Returns the exit code."""
        n = self.nodes[node_id]
        if n.proc is None:
            return None
        if n.stopped:
            self.cont_node(node_id)
        if n.proc.poll() is None:
            n.health.sending(signal.SIGTERM)
            n.proc.send_signal(signal.SIGTERM)
            try:
                n.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                n.health.stop_timed_out(timeout_s)
                self.kill_node(node_id)
                return -signal.SIGKILL
        code = n.proc.returncode
        n.health.reaped(code)
        n.proc = None
        return code

    def pause_node(self, node_id: int) -> None:
        """SIGSTOP: the process stays, its sockets stay open, it answers nothing."""
        self.signal_node(node_id, signal.SIGSTOP)
        self.nodes[node_id].stopped = True

    def cont_node(self, node_id: int) -> None:
        self.signal_node(node_id, signal.SIGCONT)
        self.nodes[node_id].stopped = False

    def restart_node(self, node_id: int, kill: bool = False, wait: bool = True) -> node:
        """Stops the node (SIGKILL if kill, else SIGTERM) and starts it on the same directory."""
        if kill:
            self.kill_node(node_id)
        else:
            self.terminate_node(node_id)
        return self.start_node(node_id, wait=wait)

    # ---- links
    def cut(self, a: int, b: int) -> None:
        """Drops every packet between nodes a and b (both ways) until healed."""
        self.network.cut(a, b)

    def isolate(self, node_id: int) -> None:
        """Cuts node_id off from every other node; clients in this namespace still reach it."""
        for other in self.nodes:
            if other != node_id:
                self.network.cut(node_id, other)

    def heal(self) -> None:
        """Restores every cut link."""
        for a, b in list(getattr(self.network, "cut_links", ())):
            self.network.heal_link(a, b)

    @property
    def can_cut(self) -> bool:
        return self.network is not None and self.network.kind == "netns"

    # ---- conditions
    def quorum(self, via: int | None = None) -> "quorum_state":
        """DescribeQuorum through a running, reachable broker (or `via`)."""
        candidates = [via] if via is not None else [b.node_id for b in self.brokers
                                                    if b.running() and not b.stopped]
        last: Exception | None = None
        for node_id in candidates:
            try:
                return describe_quorum(self.nodes[node_id].bootstrap)
            except Exception as exc:  # noqa: BLE001 - try the next broker
                last = exc
        raise ConnectionError(f"no broker answered DescribeQuorum: {last!r}")

    def leader(self, exclude: set[int] | frozenset = frozenset(), newer_than_epoch: int = -1,
               timeout_s: float = 120.0) -> "quorum_state":
        """Waits until the quorum (asked through brokers not in exclude) has a leader not in exclude
        with a leader epoch above newer_than_epoch."""
        def ok():
            for b in self.brokers:
                if b.node_id in exclude or not b.running() or b.stopped:
                    continue
                try:
                    q = describe_quorum(b.bootstrap, timeout_s=5.0)
                except Exception:  # noqa: BLE001
                    continue
                if (q.error_code == 0 and q.leader_id in self.voter_ids and q.leader_id not in exclude
                        and q.leader_epoch > newer_than_epoch):
                    return q
            return None
        return _wait(ok, timeout_s, f"a quorum leader outside {sorted(exclude)}", interval_s=0.05)

    def controllers_answer_kafka(self) -> bool:
        """Whether a running controller's CONTROLLER listener answers ApiVersions (Kafka's does;
        Gregor's controller traffic need not be Kafka's wire protocol)."""
        for c in self.controllers:
            if c.running() and not c.stopped:
                try:
                    _max_version(f"{c.host}:{c.controller_port}", API_DESCRIBE_QUORUM, 2, 5.0)
                    return True
                except Exception:  # noqa: BLE001
                    continue
        return False

    def leader_via_controllers(self, exclude: set[int] | frozenset = frozenset(), newer_than_epoch: int = -1,
                               timeout_s: float = 120.0) -> "quorum_state":
        """Like leader(), but asking the controllers' own listeners (only the active controller
        answers DescribeQuorum there), so no broker-to-controller forwarding delay is measured."""
        def ok():
            for c in self.controllers:
                if c.node_id in exclude or not c.running() or c.stopped:
                    continue
                try:
                    q = describe_quorum(f"{c.host}:{c.controller_port}", timeout_s=2.0)
                except Exception:  # noqa: BLE001
                    continue
                if (q.error_code == 0 and q.leader_id in self.voter_ids and q.leader_id not in exclude
                        and q.leader_epoch > newer_than_epoch):
                    return q
            return None
        return _wait(ok, timeout_s, f"a controller-side quorum leader outside {sorted(exclude)}", interval_s=0.05)

    def wait_serving(self, timeout_s: float = SERVE_TIMEOUT_S, brokers: set[int] | None = None,
                     caught_up: bool = True) -> "quorum_state":
        """Until: the quorum has a leader among the voters with every voter listed (and, with
        caught_up, every running voter's log end offset at least the high watermark seen when the
        wait began) and, asked through every expected broker, Metadata lists exactly the expected
        brokers (default all) at their advertised host:port. On timeout the error carries every
        node's log tail."""
        expected = set(self.broker_ids if brokers is None else brokers)
        want = {(b.node_id, b.host, b.port) for b in self.brokers if b.node_id in expected}
        first_hw: list[int] = []

        def ok():
            for n in self.nodes.values():
                if n.proc is not None and n.proc.poll() is not None:
                    raise AssertionError(f"node {n.node_id} exited with {n.proc.returncode}")
            q = self.quorum()
            if q.error_code != 0 or q.leader_id not in self.voter_ids:
                return None
            if {v.replica_id for v in q.voters} != self.voter_ids:
                return None
            if caught_up:
                if not first_hw:
                    first_hw.append(q.high_watermark)
                running = {n.node_id for n in self.controllers if n.running() and not n.stopped}
                if any(v.log_end_offset < first_hw[0] for v in q.voters if v.replica_id in running):
                    return None
            for b in self.brokers:
                if b.node_id not in expected:
                    continue
                # A restarted broker is listed under its previous registration until that
                # session expires (the controller refuses the new one meanwhile with
                # DUPLICATE_BROKER_REGISTRATION): wait for the current process's own unfencing.
                if not self._unfenced_since_start(b):
                    return None
                md = metadata(b.bootstrap, topics=[])
                if {(x.node_id, x.host, x.port) for x in md.brokers} != want:
                    return None
            return q

        try:
            return _wait(ok, timeout_s, f"cluster serving with brokers {sorted(expected)}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs_report()}") from None

    def _unfenced_since_start(self, n: "node") -> bool:
        if n.unfenced_mark == n.start_mark:
            return True
        try:
            with open(n.stderr_path, "rb") as f:
                f.seek(n.start_mark)
                if self.impl.unfenced_line not in f.read():
                    return False
        except OSError:
            return False
        n.unfenced_mark = n.start_mark
        return True

    def logs_report(self, max_bytes: int = 6000) -> str:
        """The recent log of every node, for failure messages."""
        parts = []
        for n in self.nodes.values():
            state = "running" if n.running() else "not running"
            parts.append(f"----- node {n.node_id} ({state}, {n.stderr_path}) -----\n"
                         f"{n.stderr_tail(max_bytes)}")
        return "\n".join(parts)

    # ---- per-test hygiene
    def mark_logs(self) -> None:
        for n in self.nodes.values():
            try:
                n.log_mark = n.stderr_path.stat().st_size
            except OSError:
                n.log_mark = 0

    def restore(self, timeout_s: float = SERVE_TIMEOUT_S) -> None:
        """Heals links, continues paused nodes, starts stopped ones, waits until serving."""
        self.heal()
        for n in self.nodes.values():
            if n.stopped and n.running():
                self.cont_node(n.node_id)
        self.start(wait=True, timeout_s=timeout_s)

    def close(self) -> None:
        """Stops every node (SIGCONT first, SIGTERM, then SIGKILL) and removes the namespaces."""
        if self._closed:
            return
        self._closed = True
        errors: list[str] = []
        try:
            for n in self.nodes.values():
                try:
                    if n.proc is not None and n.stopped:
                        n.health.sending(signal.SIGCONT)
                        os.kill(n.proc.pid, signal.SIGCONT)
                        n.stopped = False
                except ProcessLookupError:
                    pass
            # Broker-only nodes first, while the controllers can still take their controlled shutdown.
            broker_only = [n for n in self.nodes.values() if not n.is_controller]
            rest = [n for n in self.nodes.values() if n.is_controller]
            for group in (broker_only, rest):
                for n in group:
                    if n.proc is not None and n.proc.poll() is None:
                        try:
                            n.health.sending(signal.SIGTERM)
                            n.proc.send_signal(signal.SIGTERM)
                        except ProcessLookupError:
                            pass
                deadline = time.monotonic() + STOP_TIMEOUT_S
                for n in group:
                    if n.proc is None:
                        continue
                    try:
                        n.health.reaped(n.proc.wait(timeout=max(0.1, deadline - time.monotonic())))
                    except subprocess.TimeoutExpired:
                        errors.append(f"node {n.node_id} ignored SIGTERM for {STOP_TIMEOUT_S}s")
                        n.health.stop_timed_out(STOP_TIMEOUT_S)
                        n.health.sending(signal.SIGKILL)
                        try:
                            os.killpg(n.proc.pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                        n.health.reaped(n.proc.wait())
                    n.proc = None
        finally:
            for n in self.nodes.values():  # only if the orderly stop above was interrupted
                if n.proc is not None and n.proc.poll() is None:
                    n.health.sending(signal.SIGKILL)
                    try:
                        os.killpg(n.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    n.proc.wait()
            if self.network is not None:
                self.network.close()
            if errors:
                print("cluster close: " + "; ".join(errors))

    def __enter__(self) -> "cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Waiting.
# --------------------------------------------------------------------------------------------

def _wait(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    """Polls predicate until it returns a truthy value; AssertionErrors from it end the wait."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}"
                                 + (f"; last error: {last!r}" if last else ""))
        time.sleep(interval_s)


wait_for = _wait


def replicate_then_fail_over(cl: "cluster", topic: str, records: int = 20) -> int:
    """A topic with RF 3 on cl, `records` produced with acks=all, every replica in the ISR (the
    followers fetched them), then its leader SIGKILLed: a new leader is elected and every record is
    read from the survivors; returns the killed leader. For tests of how the nodes talk to each
    other (TLS, SASL)."""
    import clients
    assert create_topics(cl.brokers[0].bootstrap, [topic], partitions=1, replication_factor=3)[topic][0] == 0
    clients.wait_for_topic(cl.bootstrap(), topic, 1)
    values = [b"v%d" % i for i in range(records)]
    delivered = clients.produce_all(cl.bootstrap(), topic, [{"value": v} for v in values], acks="all")
    assert len(delivered) == records

    def replicated():
        t = metadata(cl.brokers[0].bootstrap, [topic]).topics.get(topic)
        return t and t.partitions and sorted(t.partitions[0].isr) == sorted(b.node_id for b in cl.brokers)
    wait_for(replicated, 60, "every replica in the ISR")
    leader = metadata(cl.brokers[0].bootstrap, [topic]).topics[topic].partitions[0].leader
    cl.kill_node(leader)
    survivors = cl.bootstrap(exclude={leader})

    def new_leader():
        t = metadata(survivors.split(",")[0], [topic]).topics.get(topic)
        return t and t.partitions and t.partitions[0].leader not in (-1, leader)
    wait_for(new_leader, 60, "a new leader")
    got = clients.consume_all(survivors, topic, expected=records)
    assert [m.value() for m in got] == values
    return leader


def module_cluster(base: Path, **kwargs):
    """Generator behind the module-scoped fixture: a started cluster, closed afterwards."""
    t0 = time.monotonic()
    cl = cluster(base, **kwargs)
    try:
        cl.start()
        print(f"\n[{cl.impl_name}] {len(cl.nodes)}-node {cl.layout} cluster ({cl.network.kind}) serving "
              f"{time.monotonic() - cl.launched_at:.2f}s after launch "
              f"({cl.launched_at - t0:.2f}s of set-up and formatting before)")
        yield cl
    finally:
        cl.close()


class cluster_factory:
    """Creates clusters for one test and closes every one of them afterwards."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.clusters: list[cluster] = []

    def __call__(self, start: bool = True, **kwargs) -> cluster:
        cl = cluster(self.base / f"c{len(self.clusters)}", **kwargs)
        self.clusters.append(cl)
        if start:
            cl.start()
        return cl

    @property
    def processes(self) -> list[node]:
        return [n for cl in self.clusters for n in cl.processes]

    def close(self) -> None:
        for cl in self.clusters:
            cl.close()


def _tcp_accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2.0).close()
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Wire: a few requests sent to one chosen node.
# --------------------------------------------------------------------------------------------

API_FIND_COORDINATOR = 10
API_CREATE_TOPICS = 19
API_ELECT_LEADERS = 43
API_DESCRIBE_QUORUM = 55
API_DESCRIBE_CLUSTER = 60

_correlation = iter(range(1, 1 << 31))
_correlation_lock = threading.Lock()


def _next_correlation() -> int:
    with _correlation_lock:
        return next(_correlation)


def _exchange(bootstrap: str, api_key: int, version: int, body: bytes, flexible: bool,
              timeout_s: float) -> kafka_wire.reader:
    corr = _next_correlation()
    frame = kafka_wire.request(api_key, version, corr, body, flexible=flexible)
    response = kafka_wire.round_trip(bootstrap, frame, timeout_s=timeout_s)
    if response is None:
        raise ConnectionError(f"{bootstrap} closed the connection (api {api_key} v{version})")
    r = kafka_wire.reader(response)
    got = r.take(">i")
    if got != corr:
        raise ValueError(f"correlation id {got} != {corr}")
    if flexible:
        r.skip_tagged_fields()  # response header v1
    return r


def _compact_string(r: kafka_wire.reader) -> str | None:
    n = r.uvarint() - 1
    if n < 0:
        return None
    if r.pos + n > len(r.data):
        raise ValueError("compact string runs past the response")
    raw = r.data[r.pos:r.pos + n]
    r.pos += n
    return raw.decode()


def _compact_count(r: kafka_wire.reader) -> int:
    n = r.uvarint() - 1
    if n > len(r.data) - r.pos:
        raise ValueError(f"array count {n} exceeds the bytes left")
    return max(n, 0)


def _array_count(r: kafka_wire.reader) -> int:
    n = r.take(">i")
    if n > len(r.data) - r.pos:
        raise ValueError(f"array count {n} exceeds the bytes left")
    return max(n, 0)


@dataclass
class broker_info:
    node_id: int
    host: str
    port: int


@dataclass
class partition_info:
    error_code: int
    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass
class topic_info:
    error_code: int
    name: str
    internal: bool
    partitions: list[partition_info]


@dataclass
class metadata_view:
    brokers: list[broker_info]
    controller_id: int
    topics: dict[str, topic_info]

    @property
    def broker_ids(self) -> set[int]:
        return {b.node_id for b in self.brokers}


def metadata(bootstrap: str, topics: list[str] | None = None, timeout_s: float = 10.0) -> metadata_view:
    """Metadata v1 from exactly this broker (topics=None: every topic; []: none)."""
    if topics is None:
        body = struct.pack(">i", -1)
    else:
        body = struct.pack(">i", len(topics)) + b"".join(kafka_wire.encode_string(t) for t in topics)
    r = _exchange(bootstrap, kafka_wire.API_METADATA, 1, body, False, timeout_s)
    brokers = []
    for _ in range(_array_count(r)):
        node_id = r.take(">i")
        host = r.string()
        port = r.take(">i")
        r.string()  # rack
        brokers.append(broker_info(node_id, host, port))
    controller_id = r.take(">i")
    out: dict[str, topic_info] = {}
    for _ in range(_array_count(r)):
        err = r.take(">h")
        name = r.string()
        internal = bool(r.take(">b"))
        parts = []
        for _ in range(_array_count(r)):
            perr, index, leader = r.take(">hii")
            replicas = [r.take(">i") for _ in range(_array_count(r))]
            isr = [r.take(">i") for _ in range(_array_count(r))]
            parts.append(partition_info(perr, index, leader, replicas, isr))
        out[name] = topic_info(err, name, internal, sorted(parts, key=lambda p: p.partition))
    return metadata_view(brokers, controller_id, out)


@dataclass
class replica_state:
    replica_id: int
    log_end_offset: int
    last_fetch_timestamp: int = -1
    last_caught_up_timestamp: int = -1


@dataclass
class quorum_state:
    error_code: int
    leader_id: int
    leader_epoch: int
    high_watermark: int
    voters: list[replica_state] = field(default_factory=list)
    observers: list[replica_state] = field(default_factory=list)


_describe_quorum_version: dict[str, int] = {}


def _max_version(bootstrap: str, api_key: int, wanted: int, timeout_s: float) -> int:
    corr = _next_correlation()
    body = kafka_wire.round_trip(bootstrap, kafka_wire.api_versions_request(corr, 0), timeout_s=timeout_s)
    if body is None:
        raise ConnectionError(f"{bootstrap} closed the connection on ApiVersions")
    _, err, apis = kafka_wire.parse_api_versions(body, 0)
    if err != 0 or api_key not in apis:
        raise ValueError(f"{bootstrap} does not serve api {api_key} (ApiVersions error {err})")
    lo, hi = apis[api_key]
    version = min(hi, wanted)
    if version < lo:
        raise ValueError(f"{bootstrap} serves api {api_key} v{lo}-{hi}, not up to v{wanted}")
    return version


def describe_quorum(bootstrap: str, timeout_s: float = 10.0) -> quorum_state:
    """DescribeQuorum (v0-2, the highest both sides have) of __cluster_metadata-0 via this broker."""
    version = _describe_quorum_version.get(bootstrap)
    if version is None:
        version = _max_version(bootstrap, API_DESCRIBE_QUORUM, 2, timeout_s)
        _describe_quorum_version[bootstrap] = version
    body = (kafka_wire.encode_uvarint(2) + kafka_wire.encode_compact_string(METADATA_TOPIC)
            + kafka_wire.encode_uvarint(2) + struct.pack(">i", 0) + b"\x00" + b"\x00" + b"\x00")
    r = _exchange(bootstrap, API_DESCRIBE_QUORUM, version, body, True, timeout_s)
    top_error = r.take(">h")
    if version >= 2:
        _compact_string(r)
    if top_error != 0:
        return quorum_state(top_error, -1, -1, -1)
    result = None
    for _ in range(_compact_count(r)):
        name = _compact_string(r)
        for _ in range(_compact_count(r)):
            index, err = r.take(">ih")
            if version >= 2:
                _compact_string(r)
            leader_id, leader_epoch, hw = r.take(">iiq")
            groups = []
            for _ in range(2):
                states = []
                for _ in range(_compact_count(r)):
                    replica_id = r.take(">i")
                    if version >= 2:
                        r.take(">16s")  # directory id
                    leo = r.take(">q")
                    fetch_ts = caught_ts = -1
                    if version >= 1:
                        fetch_ts, caught_ts = r.take(">qq")
                    r.skip_tagged_fields()
                    states.append(replica_state(replica_id, leo, fetch_ts, caught_ts))
                groups.append(states)
            r.skip_tagged_fields()
            if name == METADATA_TOPIC and index == 0:
                result = quorum_state(err, leader_id, leader_epoch, hw, groups[0], groups[1])
        r.skip_tagged_fields()
    if result is None:
        raise ValueError(f"DescribeQuorum from {bootstrap} has no {METADATA_TOPIC}-0")
    return result


@dataclass
class cluster_description:
    error_code: int
    cluster_id: str | None
    controller_id: int
    brokers: list[broker_info]


def describe_cluster(bootstrap: str, timeout_s: float = 10.0) -> cluster_description:
    """DescribeCluster v0 from this broker."""
    r = _exchange(bootstrap, API_DESCRIBE_CLUSTER, 0, b"\x00" + b"\x00", True, timeout_s)
    r.take(">i")  # throttle
    err = r.take(">h")
    _compact_string(r)
    cluster_id = _compact_string(r)
    controller_id = r.take(">i")
    brokers = []
    for _ in range(_compact_count(r)):
        node_id = r.take(">i")
        host = _compact_string(r)
        port = r.take(">i")
        _compact_string(r)  # rack
        r.skip_tagged_fields()
        brokers.append(broker_info(node_id, host, port))
    return cluster_description(err, cluster_id, controller_id, brokers)


ERROR_NONE = 0
ERROR_TOPIC_ALREADY_EXISTS = 36


def create_topics(bootstrap: str, names: list[str], partitions: int = 1, replication_factor: int = 1,
                  timeout_ms: int = 15000, timeout_s: float = 30.0) -> dict[str, tuple[int, str | None]]:
    """CreateTopics v4 sent to exactly this broker; {name: (error_code, error_message)}."""
    body = struct.pack(">i", len(names))
    for name in names:
        body += kafka_wire.encode_string(name) + struct.pack(">ihii", partitions, replication_factor, 0, 0)
    body += struct.pack(">ib", timeout_ms, 0)
    r = _exchange(bootstrap, API_CREATE_TOPICS, 4, body, False, timeout_s)
    r.take(">i")  # throttle
    out = {}
    for _ in range(_array_count(r)):
        name = r.string()
        err = r.take(">h")
        out[name] = (err, r.string())
    return out


def elect_preferred_leader(bootstrap: str, topic: str, partition: int, timeout_s: float = 30.0) -> int:
    """ElectLeaders v1 (preferred) for one partition, sent to this broker; the partition's error
    code (0: elected; 84 ELECTION_NOT_NEEDED: the preferred replica already leads)."""
    body = struct.pack(">bi", 0, 1) + kafka_wire.encode_string(topic) + struct.pack(">ii", 1, partition)
    body += struct.pack(">i", int(timeout_s * 1000))
    r = _exchange(bootstrap, API_ELECT_LEADERS, 1, body, False, timeout_s + 5)
    r.take(">i")  # throttle
    top = r.take(">h")
    if top != 0:
        return top
    for _ in range(_array_count(r)):
        r.string()
        for _ in range(_array_count(r)):
            r.take(">i")
            err = r.take(">h")
            r.string()
            return err
    raise ValueError("ElectLeaders answered no partition")


def find_coordinator(bootstrap: str, key: str, key_type: int = 0, timeout_s: float = 10.0) -> int | None:
    """FindCoordinator v1 (key type 0 group, 1 transactional id) sent to this broker; the
    coordinator's node id, None while the answer is an error."""
    try:
        r = _exchange(bootstrap, API_FIND_COORDINATOR, 1, kafka_wire.encode_string(key) + struct.pack(">b", key_type),
                      False, timeout_s)
    except (OSError, ConnectionError):
        return None
    r.take(">i")  # throttle
    err = r.take(">h")
    r.string()  # error message
    node = r.take(">i")
    return node if err == 0 else None


# --------------------------------------------------------------------------------------------
# Kafka's metadata shell on a node's metadata files.
# --------------------------------------------------------------------------------------------

METADATA_SHELL = "org.apache.kafka.shell.MetadataShell"


def metadata_shell(classpath: str, path: Path, *command: str) -> str:
    """`kafka-metadata-shell.sh --snapshot <path> <command...>` (a .checkpoint snapshot or a
    metadata log segment); its stdout, after asserting it exited 0. The shell refuses a file whose
    log directory a running node has locked (`.lock`), so it reads a copy, as an operator would."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="gregor-shell-") as tmp:
        copy = Path(tmp) / path.parent.name / path.name
        copy.parent.mkdir()
        shutil.copyfile(path, copy)
        return harness.ok(harness.run_java_tool(classpath, METADATA_SHELL, "--snapshot", str(copy), *command))


# --------------------------------------------------------------------------------------------
# Writing under faults (confluent_kafka, through the whole cluster).
# --------------------------------------------------------------------------------------------

class acks_all_stream:
    """An idempotent acks=all producer in a thread until the `with` ends, recording every
    acknowledged record as {(partition, offset): value} and every failed delivery in `errors`.
    `partition` pins every record to one partition; otherwise keys spread them. The end of the
    `with` (in the test's thread) fails when a (partition, offset) was acknowledged twice."""

    def __init__(self, bootstrap: str, topic: str, partition: int | None = None):
        from confluent_kafka import Producer
        self.topic = topic
        self.partition = partition
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 5, "message.timeout.ms": 120000})
        self.acked: dict[tuple[int, int], bytes] = {}
        self.acked_twice: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acks-all", daemon=True)

    def _delivered(self, err, msg):
        if err is None:  # records only: an exception here would end the producer thread, not the test
            key = (msg.partition(), msg.offset())
            if key in self.acked:
                self.acked_twice.append(key)
            self.acked[key] = msg.value()
        else:
            self.errors.append(str(err))

    def _run(self):
        seq = 0
        pin = {} if self.partition is None else {"partition": self.partition}
        while not self._stop.is_set():
            seq += 1
            try:
                self.producer.produce(self.topic, value=f"r{seq:08d}".encode(), key=str(seq % 97).encode(),
                                      on_delivery=self._delivered, **pin)
            except BufferError:
                self.producer.poll(0.1)
                continue
            self.producer.poll(0)
            self._stop.wait(0.004)
        self.producer.flush(120)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=180)
        if exc[0] is None:
            assert not self.acked_twice, f"(partition, offset) acknowledged twice: {self.acked_twice[:10]}"


# --------------------------------------------------------------------------------------------
# Reading partitions back (confluent_kafka, through the whole cluster).
# --------------------------------------------------------------------------------------------

def read_partitions(bootstrap: str, topic: str, partitions: int, timeout_s: float = 300.0
                    ) -> tuple[dict[int, dict[int, bytes]], dict[int, int], dict[int, int]]:
    """Every partition of topic from its log start offset to its high watermark, as
    ({partition: {offset: value}}, {partition: log start}, {partition: end})."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"itest-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "log_level": 3})
    try:
        marks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30) for p in range(partitions)}
        starts = {p: lo for p, (lo, _) in marks.items()}
        ends = {p: hi for p, (_, hi) in marks.items()}
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in range(partitions)])
        got: dict[int, dict[int, bytes]] = {p: {} for p in range(partitions)}
        done = {p for p in range(partitions) if ends[p] <= starts[p]}
        deadline = time.monotonic() + timeout_s
        while len(done) < partitions and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    if msg.offset() >= ends[msg.partition()]:
                        done.add(msg.partition())
                    continue
                raise AssertionError(f"consume error: {msg.error()}")
            got[msg.partition()][msg.offset()] = msg.value()
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
        assert len(done) == partitions, f"did not read {topic} to the end: ends {ends}, done {done}"
        return got, starts, ends
    finally:
        consumer.close()
