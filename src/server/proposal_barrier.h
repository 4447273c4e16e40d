#pragma once
// server::proposal_barrier: when the active controller may answer a request whose decision
// produced no records (a no-op, or an error such as TOPIC_ALREADY_EXISTS or FENCED_LEADER_EPOCH).
// Such a decision was read from the speculative image, which holds every record already proposed
// but maybe not committed; answering at once could tell a client about a state a failover then
// drops. Kafka's QuorumController parks these answers in its deferred event queue, keyed by the
// last offset proposed, and completes them once that offset commits, or fails them with
// NOT_CONTROLLER when the leadership ends first. This is the same rule, counted in proposals
// instead of offsets (proposals commit in the order they were made):
//   - begin() when a proposal is handed to the raft node, end(ticket, committed) when it settles;
//   - mark() when a no-record decision is made, then check(mark) until it is not `wait`:
//     `ready` once every proposal begun before the mark committed; `failed` once any proposal
//     failed since the controller was (re-)activated, or when it was re-activated or deactivated
//     after the mark (reset()). A failed proposal leaves records in the speculative image that
//     will never commit, so nothing read from it is answered until the controller starts again
//     from the committed image (Kafka's controller renounces and fails its deferred events).
// Pure (no clock, no I/O); the owner wakes its waiters when end() or reset() is called.
//
// Threading: the io thread.
#include <cstdint>
#include <set>

namespace gregor::server {

class proposal_barrier {
 public:
  enum class state { wait, ready, failed };
  struct mark_t {
    uint64_t upto = 0;        // tickets below this must commit first
    uint64_t generation = 0;  // reset() count when the mark was taken
  };

  uint64_t begin() {
    const uint64_t t = _next++;
    _in_flight.insert(t);
    return t;
  }
  void end(uint64_t ticket, bool committed) {
    _in_flight.erase(ticket);
    if (!committed) ++_failures;
  }
  // A new controller term (activate, re-activation from the committed image) or its end
  // (deactivate): nothing decided before counts, and the speculative image is the committed one.
  void reset() {
    ++_generation;
    _failures = 0;
  }

  mark_t mark() const { return mark_t{_next, _generation}; }
  state check(const mark_t& m) const {
    if (m.generation != _generation || _failures > 0) return state::failed;
    if (!_in_flight.empty() && *_in_flight.begin() < m.upto) return state::wait;
    return state::ready;
  }
  size_t in_flight() const { return _in_flight.size(); }
  // A proposal failed since the last reset(): the speculative image holds records that will
  // never commit (the owner refuses everything until it resets from the committed image).
  bool failed() const { return _failures > 0; }

 private:
  uint64_t _next = 0;
  uint64_t _generation = 0;
  uint64_t _failures = 0;  // failed proposals since the last reset()
  std::set<uint64_t> _in_flight;
};

}  // namespace gregor::server
