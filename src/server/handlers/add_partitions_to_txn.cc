// AddPartitionsToTxn (key 24). v0-3: a producer adds partitions to its ongoing transaction
// (v1: no wire change, v2: PRODUCER_FENCED instead of INVALID_PRODUCER_EPOCH, v3: flexible).
// v4+: the batched broker-to-coordinator form, several transactions per request, each either
// VerifyOnly (KIP-890 part 1: a partition leader asks whether the partition is already in the
// producer's ongoing transaction) or an add on behalf of a transaction-version-2 producer (v5,
// KIP-890 part 2). Partitions of topics that do not exist get UNKNOWN_TOPIC_OR_PARTITION and the
// rest of that transaction's partitions OPERATION_NOT_ATTEMPTED, as Kafka answers.
#include "gregor/protocol/messages/add_partitions_to_txn.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::add_partitions_to_txn_request;
using resp_t = protocol::add_partitions_to_txn_response;
using topic_t = req_t::add_partitions_to_txn_topic;
using topic_result_t = resp_t::add_partitions_to_txn_topic_result;
using protocol::error_code;

std::vector<topic_result_t> answer_all(const std::vector<topic_t>& topics,
                                       const std::function<error_code(const std::string&, int32_t)>& err) {
  std::vector<topic_result_t> out;
  for (const auto& t : topics) {
    auto& tr = out.emplace_back();
    tr.name = t.name;
    for (int32_t p : t.partitions) {
      auto& pr = tr.results_by_partition.emplace_back();
      pr.partition_index = p;
      pr.partition_error_code = code(err(t.name, p));
    }
  }
  return out;
}

// One transaction's partitions: added (or verified), or why not.
boost::asio::awaitable<std::vector<topic_result_t>> one(core& c, request_context& ctx, txn_service& txns,
                                                        const std::string& id, int64_t pid, int16_t epoch,
                                                        const std::vector<topic_t>& topics, bool verify_only,
                                                        int16_t client_tv, int16_t version) {
  // Topics the principal may not Write (v0-3: a producer's own request; v4+ come from brokers,
  // authorised by ClusterAction), then unknown topics and partitions: nothing is attempted when
  // one is named.
  std::set<std::pair<std::string, int32_t>> unknown;
  std::set<std::string> unauthorized;
  for (const auto& t : topics) {
    if (version <= 3 && !topic_authorized(ctx, acl_op::write, t.name)) {
      unauthorized.insert(t.name);
      continue;
    }
    const topic_runtime* rt = c.topic(t.name);
    for (int32_t p : t.partitions)
      if (!rt || p < 0 || p >= rt->partition_count) unknown.emplace(t.name, p);
  }
  if (!unknown.empty() || !unauthorized.empty()) {
    co_return answer_all(topics, [&](const std::string& name, int32_t p) {
      if (unauthorized.contains(name)) return error_code::topic_authorization_failed;
      return unknown.contains({name, p}) ? error_code::unknown_topic_or_partition : error_code::operation_not_attempted;
    });
  }
  error_code e = txns.check_coordinator(id);
  txn::txn_partitions parts;
  for (const auto& t : topics) parts[t.name].insert(t.partitions.begin(), t.partitions.end());
  if (e == error_code::none) {
    if (verify_only) {
      e = txns.verify(id, pid, epoch, parts);
    } else {
      txn::add_input in;
      in.transactional_id = id;
      in.producer_id = pid;
      in.producer_epoch = epoch;
      in.partitions = std::move(parts);
      in.client_transaction_version = client_tv;
      auto r = co_await txns.add_partitions(std::move(in));
      e = r.error;
    }
  }
  if (e == error_code::producer_fenced && version < 2) e = error_code::invalid_producer_epoch;
  co_return answer_all(topics, [e](const std::string&, int32_t) { return e; });
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const int16_t v = ctx.version();
  if (v <= 3 && !transactional_id_authorized(ctx, acl_op::write, req.v3_and_below_transactional_id)) {
    resp.results_by_topic_v3_and_below = answer_all(
        req.v3_and_below_topics, [](const std::string&, int32_t) { return error_code::transactional_id_authorization_failed; });
    co_return resp;
  }
  if (v >= 4 && !cluster_authorized(ctx, acl_op::cluster_action)) {
    resp.error_code = code(error_code::cluster_authorization_failed);
    co_return resp;
  }
  txn_service& txns = *co_await c.transactions();
  if (v <= 3) {
    resp.results_by_topic_v3_and_below =
        co_await one(c, ctx, txns, req.v3_and_below_transactional_id, req.v3_and_below_producer_id,
                     req.v3_and_below_producer_epoch, req.v3_and_below_topics, false, 1, v);
    co_return resp;
  }
  for (const auto& t : req.transactions) {
    auto& out = resp.results_by_transaction.emplace_back();
    out.transactional_id = t.transactional_id;
    const int16_t client_tv = v >= 5 ? 2 : 1;
    out.topic_results = co_await one(c, ctx, txns, t.transactional_id, t.producer_id, t.producer_epoch, t.topics,
                                     t.verify_only, client_tv, v);
  }
  co_return resp;
}

}  // namespace

api_route add_partitions_to_txn_route() {
  return make_route<req_t, resp_t, &handle, 0, 5>("AddPartitionsToTxn");
}

}  // namespace gregor::server
