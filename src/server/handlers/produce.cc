// Produce (key 0). v0-2 carry old message formats: decoded, but only magic-2 batches are accepted
// (others get UNSUPPORTED_FOR_MESSAGE_FORMAT); they stay advertised because librdkafka needs v0 in
// the list. v1: throttle time. v2: log_append_time. v3: transactional id, record batch v2. v5:
// log_start_offset. v8: record_errors and error_message. v9: flexible. v10: current leader and node
// endpoints (tagged). v11, v12: no wire change (KIP-890). v13: topic ids instead of names.
// acks=0 never gets a response, whatever happened.
#include "gregor/base/log.h"
#include "gregor/protocol/messages/produce.h"
#include "client_quota.h"
#include "handlers.h"
#include "leader_hint.h"
#include "../idempotence.h"
#include "../http_admin.h"
#include "../txn_service.h"

namespace gregor::server {
namespace {
using req_t = protocol::produce_request;
using resp_t = protocol::produce_response;
using protocol::error_code;

template <class PartOut>
void set_error(PartOut& out, error_code e, std::string message = {}) {
  out.error_code = code(e);
  out.base_offset = -1;
  if (!message.empty()) out.error_message = std::move(message);
}

// The answer to a transactional batch whose verification with the coordinator failed, as Kafka's
// AddPartitionsToTxnManager gives it: a coordinator that cannot answer now is NOT_ENOUGH_REPLICAS
// (retriable for every client); a partition not in the transaction is TRANSACTION_ABORTABLE from
// v11 on and INVALID_TXN_STATE before; a stale epoch is INVALID_PRODUCER_EPOCH.
error_code produce_error_of_verification(error_code e, int16_t version) {
  switch (e) {
    case error_code::not_coordinator:
    case error_code::coordinator_not_available:
    case error_code::coordinator_load_in_progress:
    case error_code::concurrent_transactions:
      return error_code::not_enough_replicas;
    case error_code::producer_fenced:
      return error_code::invalid_producer_epoch;
    case error_code::invalid_txn_state:
    case error_code::transaction_abortable:
      return version > 10 ? error_code::transaction_abortable : error_code::invalid_txn_state;
    default:
      return e;
  }
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const int16_t v = ctx.version();
  const bool acks_valid = req.acks == -1 || req.acks == 0 || req.acks == 1;
  const int64_t now_ms = c.clk().now_ms();
  // acks=all appends still waiting for the high watermark: (topic index, partition index) in the
  // response, the partition, the offset the high watermark must reach, min.insync.replicas.
  struct commit_wait {
    size_t topic;
    size_t partition;
    topic_partition tp;
    offset end;
    int32_t min_insync;
    // acks=1: the records need only be written by this broker's disk writer (storage/disk_writer.h).
    bool written_only = false;
    // acks=1 whose append made a flush due (flush.messages / flush.ms): answered once the writer's
    // fdatasync covers it too, as Kafka answers after its synchronous flush (partition_log::sync_pending).
    // (acks=all waits for the high watermark, which does not pass a pending flush.)
    bool synced = false;
  };
  std::vector<commit_wait> waits;

  for (auto& topic : req.topic_data) {
    auto& tout = resp.responses.emplace_back();
    tout.name = topic.name;
    tout.topic_id = topic.topic_id;
    std::string name = topic.name;
    const topic_runtime* rt = nullptr;
    if (v >= 13) rt = c.topic(topic.topic_id, &name);
    else rt = c.topic(name);

    // Kafka checks WRITE before existence: an unauthorized principal learns nothing of the topic.
    const bool may_write = (v >= 13 && !rt) || authorized(ctx, security::acl_operation::write,
                                                          security::resource_type::topic, name);
    for (auto& part : topic.partition_data) {
      auto& pout = tout.partition_responses.emplace_back();
      pout.index = part.index;
      if (!acks_valid) {
        set_error(pout, error_code::invalid_required_acks);
        continue;
      }
      if (!may_write) {
        set_error(pout, error_code::topic_authorization_failed);
        continue;
      }
      if (!rt) {
        set_error(pout, v >= 13 ? error_code::unknown_topic_id : error_code::unknown_topic_or_partition);
        continue;
      }
      topic_partition tp{name, partition_id{part.index}};
      auto leader = c.leader_partition(tp);
      if (!leader) {
        set_error(pout, leader.error());
        continue;
      }
      replication::partition* p = *leader;
      pout.log_start_offset = p->log().log_start_offset().value();
      if (!part.records.has_value() || part.records->empty()) {
        set_error(pout, error_code::invalid_record, "empty record set");
        continue;
      }
      if (req.acks == -1 && int32_t(p->isr_size()) < rt->settings.min_insync_replicas) {
        set_error(pout, error_code::not_enough_replicas,
                  fmt::format("ISR size {} is below min.insync.replicas {}", p->isr_size(),
                              rt->settings.min_insync_replicas));
        continue;
      }
      protocol::validation_options opts;
      opts.max_message_bytes = rt->settings.max_message_bytes;
      opts.ts_type = rt->log_append_time ? protocol::timestamp_type::log_append_time
                                         : protocol::timestamp_type::create_time;
      opts.timestamp_before_max_ms = rt->settings.message_timestamp_before_max_ms;
      opts.timestamp_after_max_ms = rt->settings.message_timestamp_after_max_ms;
      opts.now_ms = now_ms;
      opts.require_keys = rt->compacted;
      // Kafka takes exactly one batch per partition from v3 on.
      opts.exactly_one_batch = v >= 3;
      // The request buffer is ours until the response is sent: offsets are assigned in place.
      std::span<uint8_t> bytes(const_cast<uint8_t*>(part.records->data()), part.records->size());
      auto valid = protocol::validate_produce_records(bytes, opts);
      if (!valid) {
        set_error(pout, valid.error().code, valid.error().message);
        if (v >= 8) {
          auto& re = pout.record_errors.emplace_back();
          re.batch_index = 0;
          re.batch_index_error_message = valid.error().message;
        }
        log::get("server").debug("produce to {} refused: {}", tp, valid.error().message);
        continue;
      }
      bool transactional = false, zstd = false;
      for (const auto& b : *valid) {
        transactional |= b.header.is_transactional();
        zstd |= b.header.codec() == protocol::compression::zstd;
      }
      if (zstd && v < 7) {
        set_error(pout, error_code::unsupported_compression_type, "zstd needs Produce v7 or later");
        continue;
      }
      if (transactional) {
        // KIP-890 part 1 (part 2 from v12: the leader adds the partition for the producer).
        const auto& first = valid->front().header;
        // Kafka authorizes transactional records against the request's transactional id: none,
        // no authorization.
        if (!req.transactional_id || req.transactional_id->empty()) {
          set_error(pout, error_code::transactional_id_authorization_failed,
                    "transactional records need a transactional id");
          continue;
        }
        if (!transactional_id_authorized(ctx, acl_op::write, *req.transactional_id)) {
          set_error(pout, error_code::transactional_id_authorization_failed);
          continue;
        }
        const int64_t pid = first.producer_id;
        const int16_t pepoch = first.producer_epoch;
        txn_service& txns = c.transaction_service();
        std::string txn_id = *req.transactional_id;
        topic_partition vtp = tp;
        const error_code verified = co_await txns.verify_produce(std::move(txn_id), std::move(vtp), pid, pepoch, v >= 12);
        if (verified != error_code::none) {
          pout.log_start_offset = -1;  // Kafka refuses before its log is involved
          set_error(pout, produce_error_of_verification(verified, v),
                    fmt::format("the partition is not part of producer {}'s transaction ({})", pid,
                                protocol::code_of(verified)));
          continue;
        }
        // The wait may have moved leadership, or a marker may have ended the transaction since.
        auto again = c.leader_partition(tp);
        if (!again) {
          set_error(pout, again.error());
          continue;
        }
        p = *again;
        rt = v >= 13 ? c.topic(topic.topic_id, &name) : c.topic(name);
        if (!rt) {
          set_error(pout, v >= 13 ? error_code::unknown_topic_id : error_code::unknown_topic_or_partition);
          continue;
        }
        if (!txns.still_verified(tp, pid)) {
          set_error(pout, produce_error_of_verification(error_code::invalid_txn_state, v));
          continue;
        }
      }
      // Idempotence and transaction state (idempotence.cc): a retry already in the log gets its
      // original offset; a non-transactional batch during the producer's transaction is refused.
      auto idem = c.producers().check(*p, *valid);
      if (idem.error != error_code::none) {
        set_error(pout, idem.error, idem.message);
        continue;
      }
      if (idem.duplicate_of) {
        pout.error_code = 0;
        pout.base_offset = idem.duplicate_of->first_offset.value();
        // Kafka answers a retry with the timestamp it kept for the batch (its max timestamp,
        // the append time under LogAppendTime) as log_append_time_ms.
        pout.log_append_time_ms = rt->log_append_time ? idem.duplicate_of->timestamp_ms
                                                      : valid->back().records_max_timestamp;
        // A retry of batches already appended is acknowledged under the same rule as the first
        // attempt: with acks=all, once the high watermark covers them.
        if (req.acks == -1 && p->high_watermark() <= idem.duplicate_of->last_offset)
          waits.push_back(commit_wait{resp.responses.size() - 1, tout.partition_responses.size() - 1, tp,
                                      idem.duplicate_of->last_offset + 1, rt->settings.min_insync_replicas});
        else if (req.acks == 1 && p->log().written_end_offset() <= idem.duplicate_of->last_offset)
          waits.push_back(commit_wait{resp.responses.size() - 1, tout.partition_responses.size() - 1, tp,
                                      idem.duplicate_of->last_offset + 1, 0, true});
        continue;
      }
      int64_t append_time = -1;
      if (rt->log_append_time) {
        append_time = now_ms;
        for (auto& b : *valid) protocol::set_log_append_time(b.bytes, append_time);
      } else {
        // The stored max timestamp is the one the records carry, not what the producer claimed.
        for (auto& b : *valid)
          if (b.records_max_timestamp != b.header.max_timestamp)
            protocol::set_max_timestamp(b.bytes, b.records_max_timestamp);
      }
      auto appended = p->append(bytes);
      if (!appended) {
        log::get("server").error("append to {} failed: {}", tp, appended.error().message);
        set_error(pout, error_code::kafka_storage_error, appended.error().message);
        continue;
      }
      pout.error_code = 0;
      pout.base_offset = appended->base_offset.value();
      pout.log_append_time_ms = append_time;
      pout.log_start_offset = appended->log_start_offset.value();
      c.producers().record(*p, *valid, appended->base_offset, append_time);
      c.waiters().notify(tp);
      // acks=all needs nothing more: the high watermark does not pass a pending flush.
      const bool sync = req.acks == 1 && p->log().sync_pending(appended->last_offset);
      if (req.acks == -1 && p->high_watermark() <= appended->last_offset)
        waits.push_back(commit_wait{resp.responses.size() - 1, tout.partition_responses.size() - 1, tp,
                                    appended->last_offset + 1, rt->settings.min_insync_replicas});
      else if (req.acks == 1 && (p->log().written_end_offset() <= appended->last_offset || sync))
        waits.push_back(commit_wait{resp.responses.size() - 1, tout.partition_responses.size() - 1, tp,
                                    appended->last_offset + 1, 0, true, sync});
      record_produced(name, bytes.size(), appended->last_offset.value() - appended->base_offset.value() + 1);
    }
  }
  if (!waits.empty()) {
    // acks=all: answer once the ISR has the records (the high watermark covers them), as Kafka's
    // delayed produce does; REQUEST_TIMED_OUT after the request's timeout; the replica losing
    // leadership meanwhile answers NOT_LEADER_OR_FOLLOWER.
    // acks=1 has no timeout in Kafka (the local append answers); a write waits at least 30 s here.
    const int64_t deadline = c.clk().monotonic_ms() + std::max(req.timeout_ms, req.acks == 1 ? 30000 : 0);
    for (;;) {
      std::vector<topic_partition> pending;
      for (auto& w : waits) {
        if (w.end < offset(0)) continue;  // settled
        auto& pout = resp.responses[w.topic].partition_responses[w.partition];
        auto* p = c.partition(w.tp);
        if (!p || (!w.written_only && !p->is_leader())) {
          set_error(pout, error_code::not_leader_or_follower);
          w.end = offset(-1);
        } else if (w.synced && p->log().synced_end_offset() < w.end) {
          if (auto failed = p->log().write_failure()) {
            set_error(pout, error_code::kafka_storage_error, failed->message);
            w.end = offset(-1);
          } else {
            pending.push_back(w.tp);
          }
        } else if (w.written_only && p->log().written_end_offset() >= w.end) {
          w.end = offset(-1);
        } else if (!w.written_only && p->high_watermark() >= w.end) {
          if (int32_t(p->isr_size()) < w.min_insync)
            set_error(pout, error_code::not_enough_replicas_after_append,
                      fmt::format("ISR size {} is below min.insync.replicas {}", p->isr_size(), w.min_insync));
          w.end = offset(-1);
        } else if (auto failed = p->log().write_failure()) {
          // The disk writer could not write them: they are gone (the log takes no more appends).
          set_error(pout, error_code::kafka_storage_error, failed->message);
          w.end = offset(-1);
        } else {
          pending.push_back(w.tp);
        }
      }
      const int64_t now = c.clk().monotonic_ms();
      if (pending.empty()) break;
      if (now >= deadline) {
        for (auto& w : waits)
          if (w.end >= offset(0))
            set_error(resp.responses[w.topic].partition_responses[w.partition], error_code::request_timed_out,
                      w.written_only ? "the records were not written to the log in time"
                                     : "the in-sync replicas did not acknowledge the records in time");
        break;
      }
      co_await c.waiters().wait(pending, deadline - now);
    }
  }
  // Client quotas: the request's size counts once its appends are answered (Kafka's produce
  // quota); acks=0 gets no response but its connection is muted all the same.
  const int32_t throttle_ms = throttle_for(c, ctx, client_quota_kind::produce, double(ctx.request_bytes));
  if (v >= 1) resp.throttle_time_ms = throttle_ms;
  if (req.acks == 0) co_return std::nullopt;
  if (v >= 10) {
    for (size_t ti = 0; ti < resp.responses.size() && ti < req.topic_data.size(); ++ti) {
      std::string name = req.topic_data[ti].name;
      if (v >= 13 && !c.topic(req.topic_data[ti].topic_id, &name)) continue;
      for (auto& pout : resp.responses[ti].partition_responses) {
        if (pout.error_code != code(error_code::not_leader_or_follower)) continue;
        if (auto l = current_leader(c, name, pout.index)) {
          pout.current_leader.leader_id = l->id;
          pout.current_leader.leader_epoch = l->epoch;
          add_node_endpoint(c, ctx.conn.listener_name, resp.node_endpoints, l->id);
        }
      }
    }
  }
  co_return resp;
}

}  // namespace

api_route produce_route() { return make_route<req_t, resp_t, &handle, 0, 13>("Produce"); }

}  // namespace gregor::server
