#pragma once
// KIP-853's UpdateRaftVoter, the voter's side (as Kafka's KafkaRaftClient on a follower): a voter
// whose controller endpoints differ from what the quorum's voter set (its VotersRecord) says about
// it asks the leader to commit its current ones (raft::replica::update_voter on the leader).
// Pure: the shell passes what it knows and sends the request when this says so.
//
// Not compared: the supported kraft.version range. Every Gregor node supports 0-1 and every
// VotersRecord Gregor writes says 0-1 (raft_wire's to_voters_record), so it never differs.
#include <algorithm>
#include <optional>
#include <vector>

#include "gregor/raft/messages.h"

namespace gregor::server {

// kraft.version 1 (KIP-853): the voter set came from a VotersRecord, i.e. a voter has a directory
// id, or the voters are not the static controller.quorum.voters (`static_ids`).
inline bool voter_set_is_dynamic(const raft::voter_set& set, const std::vector<node_id>& static_ids) {
  bool dynamic = set.size() != static_ids.size();
  for (const auto& v : set)
    dynamic |= !v.directory_id.is_zero() || std::find(static_ids.begin(), static_ids.end(), v.id) == static_ids.end();
  return dynamic;
}

struct voter_update_input {
  node_id self = no_node;
  uuid directory_id;                             // this node's metadata directory id
  std::vector<raft::voter_endpoint> endpoints;   // this node's controller listener(s), as advertised
  bool follower = false;       // follows a known leader (not leading, not campaigning)
  bool dynamic_quorum = false;  // kraft.version 1: the voter set comes from a VotersRecord
  const raft::voter_set* voters = nullptr;  // the quorum's voter set
};

// The voter entry to send (this node's id, directory id and endpoints), or nullopt: kraft.version
// 0 (the static set has no endpoints to update), not a follower, not a voter with this directory
// id, no endpoints of our own, or nothing differs (the order of the endpoints does not count).
inline std::optional<raft::voter> voter_update_needed(const voter_update_input& in) {
  if (!in.follower || !in.dynamic_quorum || !in.voters || in.endpoints.empty()) return std::nullopt;
  const auto it = std::find_if(in.voters->begin(), in.voters->end(), [&](const raft::voter& v) {
    return v.id == in.self && v.directory_id == in.directory_id;
  });
  if (it == in.voters->end()) return std::nullopt;
  auto key = [](const raft::voter_endpoint& e) { return std::tie(e.name, e.host, e.port); };
  auto sorted = [&](std::vector<raft::voter_endpoint> eps) {
    std::sort(eps.begin(), eps.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
    return eps;
  };
  if (sorted(it->endpoints) == sorted(in.endpoints)) return std::nullopt;
  return raft::voter{in.self, in.directory_id, in.endpoints};
}

}  // namespace gregor::server
