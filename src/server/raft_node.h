#pragma once
// server::raft_node: the Asio shell around raft::replica for the cluster metadata partition
// (`__cluster_metadata-0`). It follows the core's contract (src/raft/README.md) to the letter:
// every output is made durable on the disk thread (quorum-state, appends, truncations, snapshots,
// fsync) before its messages leave, then persisted() is acknowledged, then committed entries go to
// the state machine in order.
//
// Owns: the replica, the metadata_log (only ever touched on the disk thread after start()), the
// tick timer and one coroutine per outbound request. Talks to other nodes through a
// raft_transport (requests out; the server routes inbound requests to handle()).
//
// Threading: everything but the metadata_log runs on the io thread; the metadata_log runs on one
// dedicated disk thread, so no fsync ever blocks the io thread. stop() waits for both.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "gregor/base/clock.h"
#include "gregor/base/result.h"
#include "gregor/controller/metadata_log.h"
#include "gregor/raft/replica.h"

namespace gregor::server {

// Sends one quorum request to a node and returns its answer (the transport pairs them by
// correlation id and copies the request_token / pre_vote fields the wire does not carry).
class raft_transport {
 public:
  virtual ~raft_transport() = default;
  virtual boost::asio::awaitable<result<raft::message, std::string>> call(node_id to, raft::message request) = 0;
};

// A committed data batch for the state machine, in log order.
struct committed_batch {
  offset base{0};
  offset end{0};  // one past its last offset
  leader_epoch epoch{0};
  std::vector<controller::framed_record> records;
  size_t bytes = 0;  // the batch's size in the log
};

class raft_node {
 public:
  struct options {
    raft::config core;                // self, voters, timings, seed
    std::filesystem::path dir;        // <metadata log dir>/__cluster_metadata-0
    int64_t tick_interval_ms = 10;
    // A follower whose last Fetch came back empty waits this long before the next one (the core
    // answers at once; this stands in for long polling on the leader).
    int64_t idle_fetch_delay_ms = 20;
  };
  // State machine hooks, called on the io thread in log order.
  struct hooks {
    std::function<void(const committed_batch&)> apply;
    // The whole state at a snapshot (records), replacing everything applied so far.
    std::function<void(offset end, const std::vector<controller::framed_record>&)> load_snapshot;
    std::function<void(const raft::leadership_change&)> leadership;
    // This node leads and the LeaderChange entry of its epoch committed: every entry before it
    // has been applied, so the state machine is complete (the active controller may start).
    std::function<void(leader_epoch)> leader_ready;
    // The voter set changed (KIP-853; also once at start): called before any message of that
    // output leaves, so a new voter's endpoint is known when the leader first writes to it.
    std::function<void(const raft::voter_set&)> voters;
  };
  // Why a voter change failed: the core's reason (not_leader also when the leadership was lost
  // before the change committed) and a message for the answer.
  struct voter_change_error {
    raft::raft_error error = raft::raft_error::not_leader;
    std::string message;
  };

  raft_node(boost::asio::io_context& io, options opts, raft_transport& transport, hooks h, clock& clk);
  ~raft_node();
  raft_node(const raft_node&) = delete;
  raft_node& operator=(const raft_node&) = delete;

  // Opens the metadata log (start-up, before the io thread serves), replays what it holds into
  // the state machine up to nothing (the high watermark is learnt again from the quorum), and
  // starts the tick loop.
  result<void, std::string> start();
  // Resigns if leader, stops timers, waits for the disk thread's queue and closes the log.
  boost::asio::awaitable<void> stop();

  // An inbound quorum request from `from`; completes with the core's answer once what it depends
  // on is durable.
  boost::asio::awaitable<raft::message> handle(node_id from, raft::message request);

  // Proposes records as one batch (leader only); completes when it is committed (or fails when
  // the leadership is lost first, or the core refuses).
  boost::asio::awaitable<result<offset, std::string>> propose(std::vector<controller::framed_record> records);

  // The state machine's snapshot at `end` (the end of a committed batch of `epoch` it applied):
  // written on the disk thread, then handed to the core, which drops the log below it. Lagging
  // replicas are then sent the snapshot (FetchSnapshot) instead of the entries.
  void take_snapshot(offset end, leader_epoch epoch, std::vector<controller::framed_record> records);

  // KIP-853 on the leader (see raft::replica::add_voter): complete when the voters entry commits,
  // or for add_voter with `ack_when_committed` false (AddRaftVoter v1's AckWhenCommitted, as
  // Kafka's leader does) as soon as the leader has appended it.
  boost::asio::awaitable<result<void, voter_change_error>> add_voter(raft::voter v, bool ack_when_committed = true);
  boost::asio::awaitable<result<void, voter_change_error>> remove_voter(node_id id, uuid directory_id);
  boost::asio::awaitable<result<void, voter_change_error>> update_voter(raft::voter v);
  const raft::voter_set& voters() const { return _replica->voters(); }
  // The current voter set came from a VotersRecord (kraft.version 1), not controller.quorum.voters.
  bool voters_are_dynamic() const;

  raft::leader_and_epoch leader() const { return _replica->leader(); }
  bool is_leader() const { return _replica && _replica->current_role() == raft::role::leader; }
  offset high_watermark() const { return _replica->high_watermark(); }
  offset log_end_offset() const { return _replica->log_end_offset(); }
  raft::quorum_info describe_quorum() const { return _replica->describe_quorum(); }

 private:
  struct pending_answer;
  struct pending_proposal {
    offset end{0};
    leader_epoch epoch{0};
    std::shared_ptr<boost::asio::steady_timer> done;  // cancelled when committed or failed
    std::shared_ptr<std::optional<std::string>> error_out;  // set when it failed
  };

  boost::asio::awaitable<void> tick_loop();
  // Takes the core's output and queues it: persistence on the disk thread, then the rest here.
  void pump();
  void pump_once();
  void after_persisted(raft::output out, std::string disk_error);
  void dispatch(raft::outbound_message m);
  boost::asio::awaitable<void> send_request(raft::outbound_message m);
  void deliver_committed(const raft::output& out);
  void fail_proposals(const std::string& why);
  boost::asio::awaitable<result<void, voter_change_error>> finish_voter_change(
      const result<raft::offset_range, raft::propose_error>& r, bool ack_when_committed = true);
  // The payload of a data entry: one v2 batch (offset and epoch are stamped at write time).
  static raft::bytes encode_payload(const std::vector<controller::framed_record>& records, int64_t now_ms);

  boost::asio::io_context& _io;
  options _opts;
  raft_transport& _transport;
  hooks _hooks;
  clock& _clock;
  std::unique_ptr<controller::metadata_log> _log;
  std::unique_ptr<raft::replica> _replica;
  boost::asio::thread_pool _disk{1};
  std::shared_ptr<boost::asio::steady_timer> _tick_timer;
  bool _stopped = false;
  size_t _disk_queue = 0;  // outputs handed to the disk thread, not yet back
  std::shared_ptr<boost::asio::steady_timer> _disk_idle;  // cancelled when _disk_queue drops to 0
  // Inbound requests waiting for the core's answer, per sender, in arrival order.
  std::map<node_id, std::deque<std::shared_ptr<pending_answer>>> _answers;
  std::deque<pending_proposal> _proposals;  // ascending end offsets
  int64_t _next_fetch_at_ms = 0;
  // Expires when the node is destroyed: coroutines and posted handlers that outlive it check it
  // after every suspension before touching a member.
  std::shared_ptr<int> _life = std::make_shared<int>(0);
  bool _snapshotting = false;  // a take_snapshot() write is in flight
  bool _pumping = false;     // inside pump(): re-entrant calls only set _pump_again
  bool _pump_again = false;
};

}  // namespace gregor::server
