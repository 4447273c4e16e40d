"""A dynamic controller quorum (KIP-853): Kafka's own `kafka-metadata-quorum` tool adds a new
controller-only node, which joined through controller.quorum.bootstrap.servers as an observer, to
the voters (AddRaftVoter), `describe --status` then lists four voters with their endpoints, the
quorum keeps committing (a topic created afterwards is served), and `remove-controller`
(RemoveRaftVoter) takes it out again, leaving it an observer that keeps fetching. Removing the
active controller itself: it leads until the removal commits, then resigns; the others elect a
new leader among the remaining voters and it keeps running as an observer.

Split layout (3 controller-only voters, 1 broker) so that Kafka runs a dynamic quorum too (formatted
with --initial-controllers; the new node with --no-initial-controllers). Gregor's initial voters
come from controller.quorum.voters (kraft.version 0); its first voter change writes the first
VotersRecord. Runs unless GREGOR_CLUSTER_TESTS=0; GREGOR_CLUSTER_IMPL=kafka checks it against
Apache Kafka 4.3.1.
"""
from __future__ import annotations

import json
import re

import pytest

import cluster_harness as ch
import harness

pytestmark = [pytest.mark.cluster]

QUORUM_COMMAND = "org.apache.kafka.tools.MetadataQuorumCommand"
NEW_CONTROLLER = 9
ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA"


def status(classpath: str, bootstrap_controller: str) -> dict[str, str]:
    """`Key: value` lines of `kafka-metadata-quorum --bootstrap-controller ... describe --status`."""
    return parse_status(harness.ok(harness.run_java_tool(classpath, QUORUM_COMMAND, "--bootstrap-controller",
                                                         bootstrap_controller, "describe", "--status")))


def status_or_none(classpath: str, bootstrap_controller: str) -> dict[str, str] | None:
    """status() for polling across a leader change: None when the Admin client gave up waiting for
    a node to send to. Java's Admin can stall so while the quorum elects (its cached metadata names
    no usable controller), against Kafka as against Gregor; the next call starts afresh. Any other
    failure still fails."""
    proc = harness.run_java_tool(classpath, QUORUM_COMMAND, "--bootstrap-controller", bootstrap_controller,
                                 "describe", "--status")
    if proc.returncode != 0 and "Timed out waiting for a node assignment" in proc.stderr:
        print("describe --status: Admin timed out waiting for a node assignment; asking again")
        return None
    return parse_status(harness.ok(proc))


def parse_status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


def replicas(value: str) -> dict[int, dict]:
    """CurrentVoters / CurrentObservers of Kafka 4.x: JSON objects with id, directoryId, endpoints."""
    return {int(v["id"]): v for v in json.loads(value)}


def voter_directory_id(voter: dict) -> str:
    """The tool leaves out the zero directory id (a voter from controller.quorum.voters)."""
    return voter.get("directoryId", ZERO_UUID)


def directory_id(log_dir) -> str:
    text = (log_dir / "meta.properties").read_text()
    m = re.search(r"^directory\.id=(\S+)$", text, re.M)
    assert m, text
    return m.group(1)


def add_controller(cluster, classpath: str, bootstrap_controller: str, node_id: int, tmp_path) -> str:
    """Starts controller-only node `node_id` as an observer and adds it with add-controller."""
    new = cluster.add_controller(node_id)
    cluster.start_node(node_id)

    def observing():
        q = cluster.quorum()
        return q if q.error_code == 0 and node_id in {o.replica_id for o in q.observers} else None
    ch._wait(observing, 120, f"node {node_id} fetching as an observer")
    config = tmp_path / f"controller{node_id}.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in {
        "node.id": str(node_id),
        "process.roles": "controller",
        "log.dirs": str(new.log_dir),
        "listeners": f"CONTROLLER://{new.host}:{new.controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
    }.items()))
    return harness.ok(harness.run_java_tool(classpath, QUORUM_COMMAND, "--bootstrap-controller",
                                            bootstrap_controller, "--command-config", str(config),
                                            "add-controller", timeout_s=120))


# Long run only (make cluster-test) until an intermittent failure is understood: once in a CI run,
# right after the active controller was removed, `describe --status --bootstrap-controller` timed
# out in listNodes for 60 s while the quorum already had a new leader (suspect: a DescribeCluster
# answer naming the removed controller as the active one, which the Admin client then waits for).
@pytest.mark.timeout(600)
def test_removing_the_active_controller_hands_leadership_to_the_remaining_voters(cluster_factory, kafka_classpath,
                                                                                tmp_path):
    cluster = cluster_factory(layout="split", controllers=3, nodes=1)
    bootstrap_controller = ",".join(f"{c.host}:{c.controller_port}" for c in cluster.initial_controllers)
    add_controller(cluster, kafka_classpath, bootstrap_controller, NEW_CONTROLLER, tmp_path)
    before = status(kafka_classpath, bootstrap_controller)
    voters = replicas(before["CurrentVoters"])
    assert set(voters) == cluster.voter_ids | {NEW_CONTROLLER}, before
    leader = int(before["LeaderId"])
    epoch = int(before["LeaderEpoch"])

    removed = harness.ok(harness.run_java_tool(
        kafka_classpath, QUORUM_COMMAND, "--bootstrap-controller", bootstrap_controller, "remove-controller",
        "--controller-id", str(leader), "--controller-directory-id=" + voter_directory_id(voters[leader]),
        timeout_s=120))
    print(f"\n[{cluster.impl_name}] active controller {leader}: {removed.strip()}")
    remaining = set(voters) - {leader}

    def new_leader():
        s = status_or_none(kafka_classpath, bootstrap_controller)
        if s is None:
            return None
        ok = (set(replicas(s["CurrentVoters"])) == remaining and int(s["LeaderId"]) in remaining
              and int(s["LeaderEpoch"]) > epoch and leader in replicas(s.get("CurrentObservers", "[]")))
        return s if ok else None
    after = ch._wait(new_leader, 240, f"a new leader among {sorted(remaining)} with {leader} an observer")
    print(f"[{cluster.impl_name}] new leader {after['LeaderId']} in epoch {after['LeaderEpoch']}")
    assert cluster.nodes[leader].running()

    broker = cluster.brokers[0]
    topic = harness.unique_topic("after-removal")
    result = ch.wait_for(lambda: ch.create_topics(broker.bootstrap, [topic], 1, 1).get(topic, (-1,))[0]
                         in (ch.ERROR_NONE, ch.ERROR_TOPIC_ALREADY_EXISTS), 60, "CreateTopics after the removal")
    assert result


@pytest.mark.timeout(600)
def test_add_controller_and_remove_controller_change_the_voter_set(cluster_factory, kafka_classpath, tmp_path):
    cluster = cluster_factory(layout="split", controllers=3, nodes=1)
    initial = set(cluster.voter_ids)
    bootstrap_controller = ",".join(f"{c.host}:{c.controller_port}" for c in cluster.initial_controllers)

    new = cluster.add_controller(NEW_CONTROLLER)
    cluster.start_node(NEW_CONTROLLER)

    def observing():
        q = cluster.quorum()
        return q if q.error_code == 0 and NEW_CONTROLLER in {o.replica_id for o in q.observers} else None
    ch._wait(observing, 120, f"node {NEW_CONTROLLER} fetching as an observer")
    before = status(kafka_classpath, bootstrap_controller)
    assert set(replicas(before["CurrentVoters"])) == initial, before

    config = tmp_path / "controller.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in {
        "node.id": str(NEW_CONTROLLER),
        "process.roles": "controller",
        "log.dirs": str(new.log_dir),
        "listeners": f"CONTROLLER://{new.host}:{new.controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
    }.items()))
    added = harness.ok(harness.run_java_tool(kafka_classpath, QUORUM_COMMAND, "--bootstrap-controller",
                                             bootstrap_controller, "--command-config", str(config),
                                             "add-controller", timeout_s=120))
    print(f"\n[{cluster.impl_name}] {added.strip()}")
    assert re.search(rf"Added\s+(KRaft\s+)?controller {NEW_CONTROLLER}\b", added), added

    after_add = status(kafka_classpath, bootstrap_controller)
    voters = replicas(after_add["CurrentVoters"])
    assert set(voters) == initial | {NEW_CONTROLLER}, after_add
    assert voters[NEW_CONTROLLER]["directoryId"] == directory_id(new.log_dir), after_add
    assert any(f"{new.host}:{new.controller_port}" in e for e in voters[NEW_CONTROLLER]["endpoints"]), after_add
    assert NEW_CONTROLLER not in replicas(after_add.get("CurrentObservers", "[]")), after_add

    # Four voters still commit: a topic created now is served by the broker.
    broker = cluster.brokers[0]
    topic = harness.unique_topic("voters")
    assert ch.create_topics(broker.bootstrap, [topic], 1, 1)[topic][0] == ch.ERROR_NONE

    removed = harness.ok(harness.run_java_tool(
        kafka_classpath, QUORUM_COMMAND, "--bootstrap-controller", bootstrap_controller, "remove-controller",
        "--controller-id", str(NEW_CONTROLLER), "--controller-directory-id=" + directory_id(new.log_dir),
        timeout_s=120))
    print(f"[{cluster.impl_name}] {removed.strip()}")
    assert re.search(rf"Removed\s+(KRaft\s+)?controller {NEW_CONTROLLER}\b", removed), removed

    after_remove = status(kafka_classpath, bootstrap_controller)
    assert set(replicas(after_remove["CurrentVoters"])) == initial, after_remove

    # The removed controller keeps running and fetching, as an observer.
    def observer_again():
        s = status(kafka_classpath, bootstrap_controller)
        return s if NEW_CONTROLLER in replicas(s.get("CurrentObservers", "[]")) else None
    ch._wait(observer_again, 60, f"node {NEW_CONTROLLER} an observer again")
    assert new.running()


@pytest.mark.timeout(600)
def test_a_voter_restarted_on_a_new_controller_port_updates_its_endpoint(cluster_factory, kafka_classpath, tmp_path):
    """UpdateRaftVoter (KIP-853): in a dynamic quorum (kraft.version 1, after add-controller) a voter
    restarted with its controller listener on another port finds the voter set naming its old
    endpoint and asks the leader to commit the new one; describe --status then shows it."""
    cluster = cluster_factory(layout="split", controllers=3, nodes=1)
    bootstrap_controller = ",".join(f"{c.host}:{c.controller_port}" for c in cluster.initial_controllers)
    add_controller(cluster, kafka_classpath, bootstrap_controller, NEW_CONTROLLER, tmp_path)
    node = cluster.nodes[NEW_CONTROLLER]
    old = f"{node.host}:{node.controller_port}"
    assert any(old in e for e in replicas(status(kafka_classpath, bootstrap_controller)["CurrentVoters"])
               [NEW_CONTROLLER]["endpoints"])

    cluster.terminate_node(NEW_CONTROLLER)
    node.controller_port = harness.free_port() if cluster.network.kind == "loopback" else node.controller_port + 100
    new = f"{node.host}:{node.controller_port}"
    cluster.start_node(NEW_CONTROLLER)

    def updated():
        s = status(kafka_classpath, bootstrap_controller)
        v = replicas(s["CurrentVoters"]).get(NEW_CONTROLLER)
        return s if v and any(new in e for e in v["endpoints"]) else None
    after = ch._wait(updated, 120, f"voter {NEW_CONTROLLER}'s endpoint {new} in describe --status")
    voters = replicas(after["CurrentVoters"])
    assert set(voters) == cluster.voter_ids | {NEW_CONTROLLER}, after
    assert not any(old in e for e in voters[NEW_CONTROLLER]["endpoints"]), after
    print(f"\n[{cluster.impl_name}] voter {NEW_CONTROLLER} now at {voters[NEW_CONTROLLER]['endpoints']}")
