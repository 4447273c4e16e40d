// `gregor produce` and `gregor consume`: kcat-like data commands over the Kafka protocol.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "cli.h"
#include "gregor/protocol/messages/fetch.h"
#include "gregor/protocol/messages/list_offsets.h"
#include "gregor/protocol/messages/produce.h"
#include "gregor/protocol/record_batch.h"

namespace gregor::app {
namespace p = protocol;
using client::error_name;
using steady = std::chrono::steady_clock;

namespace {

template <class T>
T must(result<T, std::string> r) {
  if (!r) throw cli_error{r.error()};
  return std::move(*r);
}
void must(result<void, std::string> r) {
  if (!r) throw cli_error{r.error()};
}

int64_t parse_i64(const std::string& flag, const std::string& v, int64_t min) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || n < min)
    throw cli_error{fmt::format("{} must be an integer >= {}, not '{}'", flag, min, v), 2};
  return n;
}

struct partition_meta {
  int32_t id;
  int32_t leader;
};

// Errors after which a fresh Metadata and a retry may succeed (leader moves, a just-created topic).
bool retriable(int16_t code) {
  using protocol::error_code;
  for (error_code e : {error_code::not_leader_or_follower, error_code::leader_not_available,
                       error_code::unknown_topic_or_partition, error_code::request_timed_out,
                       error_code::not_enough_replicas, error_code::fenced_leader_epoch,
                       error_code::unknown_leader_epoch})
    if (code == protocol::code_of(e)) return true;
  return false;
}

constexpr int k_attempts = 25;  // with 200 ms backoff: about 5 s of metadata settling
void backoff() { std::this_thread::sleep_for(std::chrono::milliseconds(200)); }

// The partitions of a topic and their leaders, waiting (bounded) for a just-created topic's
// leaders to appear.
std::vector<partition_meta> topic_partitions(client::client& c, const std::string& topic) {
  for (int attempt = 1;; ++attempt) {
    auto md = must(c.metadata(std::vector<std::string>{topic}));
    int16_t err = md.topics.empty() ? protocol::code_of(protocol::error_code::unknown_topic_or_partition)
                                    : md.topics[0].error_code;
    std::vector<partition_meta> out;
    bool leaderless = false;
    if (!err) {
      for (const auto& pt : md.topics[0].partitions) {
        out.push_back({pt.partition_index, pt.leader_id});
        leaderless |= pt.leader_id < 0;
      }
      std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
      if (!out.empty() && !leaderless) return out;
    }
    if (attempt >= k_attempts || (err && !retriable(err))) {
      if (err) throw cli_error{fmt::format("cannot use topic '{}': {}", topic, error_name(err))};
      if (out.empty()) throw cli_error{fmt::format("topic '{}' has no partitions", topic)};
      throw cli_error{fmt::format("topic '{}' has partitions without a leader: LEADER_NOT_AVAILABLE", topic)};
    }
    backoff();
  }
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class progress {
 public:
  explicit progress(bool enabled) : _enabled(enabled) {}
  void tick(const char* verb, int64_t records, int64_t bytes) {
    if (!_enabled) return;
    auto now = steady::now();
    if (now - _last < std::chrono::seconds(1)) return;
    _last = now;
    double secs = std::chrono::duration<double>(now - _start).count();
    std::fprintf(stderr, "\r%s %lld records, %.1f MB, %.0f records/s   ", verb, (long long)records,
                 double(bytes) / 1e6, secs > 0 ? double(records) / secs : 0.0);
    _shown = true;
  }
  void done() {
    if (_shown) std::fputc('\n', stderr);
  }

 private:
  bool _enabled;
  bool _shown = false;
  steady::time_point _start = steady::now();
  steady::time_point _last = steady::now();
};

// ---- produce ----

int produce(const cli_args& a) {
  if (a.positional.size() != 1) throw cli_error{"produce needs exactly one topic", 2};
  const std::string topic = a.positional[0];
  auto& c = connect_client(a);
  auto parts = topic_partitions(c, topic);
  std::optional<int32_t> fixed;
  if (auto pf = a.get("--partition")) {
    fixed = int32_t(parse_i64("--partition", *pf, 0));
    if (*fixed >= int32_t(parts.size()))
      throw cli_error{fmt::format("topic '{}' has no partition {} (it has {})", topic, *fixed, parts.size())};
  }
  int16_t acks = int16_t(a.get("--acks") ? parse_i64("--acks", *a.get("--acks"), -1) : -1);
  if (acks > 1) throw cli_error{"--acks must be -1, 0 or 1", 2};
  size_t batch_records = size_t(a.get("--batch-size") ? parse_i64("--batch-size", *a.get("--batch-size"), 1) : 1000);
  auto key_sep = a.get("--key-separator");
  bool json = a.get("--format").value_or("table") == "json";
  progress prog(a.has("--progress") || isatty(2));

  std::map<int32_t, std::vector<p::record_input>> pending;
  size_t pending_count = 0;
  int64_t total = 0, bytes = 0;
  int32_t round_robin = 0;
  std::map<int32_t, int64_t> per_partition;

  auto flush = [&] {
    std::map<int32_t, std::vector<uint8_t>> batches;  // partition → one batch, kept until acked
    for (auto& [pid, recs] : pending) {
      if (recs.empty()) continue;
      p::batch_options o;
      o.base_timestamp = now_ms();
      batches[pid] = p::build_batch(recs, o);
      bytes += int64_t(batches[pid].size());
      per_partition[pid] += int64_t(recs.size());
    }
    // Send every unacknowledged batch to its leader; retry retriable errors after new metadata.
    for (int attempt = 1; !batches.empty(); ++attempt) {
      std::map<int32_t, p::produce_request> by_leader;
      for (auto& [pid, batch] : batches) {
        auto& req = by_leader[parts[size_t(pid)].leader];
        req.acks = acks;
        req.timeout_ms = 30000;
        if (req.topic_data.empty()) req.topic_data.emplace_back().name = topic;
        auto& pd = req.topic_data[0].partition_data.emplace_back();
        pd.index = pid;
        pd.records = std::span<const uint8_t>(batch);
      }
      std::string last_error;
      for (auto& [leader, req] : by_leader) {
        client::connection* b = must(c.broker(leader));
        if (acks == 0) {
          must(b->send_only(req, 12));
          for (const auto& pd : req.topic_data[0].partition_data) batches.erase(pd.index);
          continue;
        }
        auto resp = must(b->call<p::produce_request, p::produce_response>(req, 12));
        for (const auto& t : resp.responses)
          for (const auto& pr : t.partition_responses) {
            if (!pr.error_code) {
              batches.erase(pr.index);
              continue;
            }
            last_error = fmt::format("cannot produce to {}-{}: {}{}", topic, pr.index, error_name(pr.error_code),
                                     pr.error_message ? " (" + *pr.error_message + ")" : "");
            if (!retriable(pr.error_code) || attempt >= k_attempts) throw cli_error{last_error};
          }
      }
      if (!batches.empty()) {
        backoff();
        parts = topic_partitions(c, topic);
      }
    }
    total += int64_t(pending_count);
    pending.clear();
    pending_count = 0;
    prog.tick("produced", total, bytes);
  };

  std::string line;
  while (std::getline(std::cin, line)) {
    p::record_input r;
    if (key_sep && !key_sep->empty()) {
      auto pos = line.find(*key_sep);
      if (pos != std::string::npos) {
        r.key = line.substr(0, pos);
        r.value = line.substr(pos + key_sep->size());
      } else {
        r.value = line;
      }
    } else {
      r.value = line;
    }
    int32_t pid;
    if (fixed) pid = *fixed;
    else if (r.key) pid = murmur2_partition(*r.key, int32_t(parts.size()));
    else pid = round_robin;
    pending[pid].push_back(std::move(r));
    if (++pending_count >= batch_records) {
      flush();
      if (!fixed) round_robin = (round_robin + 1) % int32_t(parts.size());
    }
  }
  flush();
  prog.done();
  table t{"produced", {"topic", "partition", "records"}, {}};
  for (const auto& [pid, n] : per_partition) t.rows.push_back({topic, std::to_string(pid), std::to_string(n)});
  if (json) print_tables({t}, true);
  else std::fprintf(stderr, "produced %lld records to %s\n", (long long)total, topic.c_str());
  return 0;
}

// ---- consume ----

std::map<int32_t, int64_t> offsets_at(client::client& c, const std::string& topic,
                                      const std::vector<partition_meta>& parts, int64_t ts) {
  std::map<int32_t, p::list_offsets_request> by_leader;
  for (const auto& pm : parts) {
    auto& req = by_leader[pm.leader];
    req.replica_id = -1;
    if (req.topics.empty()) req.topics.emplace_back().name = topic;
    auto& rp = req.topics[0].partitions.emplace_back();
    rp.partition_index = pm.id;
    rp.timestamp = ts;
  }
  std::map<int32_t, int64_t> out;
  for (auto& [leader, req] : by_leader) {
    auto resp = must(must(c.broker(leader))->call<p::list_offsets_request, p::list_offsets_response>(req));
    for (const auto& t : resp.topics)
      for (const auto& pt : t.partitions) {
        if (pt.error_code)
          throw cli_error{fmt::format("cannot list offsets of {}-{}: {}", topic, pt.partition_index,
                                      error_name(pt.error_code))};
        out[pt.partition_index] = pt.offset;
      }
  }
  return out;
}

int consume(const cli_args& a) {
  if (a.positional.size() != 1) throw cli_error{"consume needs exactly one topic", 2};
  const std::string topic = a.positional[0];
  auto& c = connect_client(a);
  auto parts = topic_partitions(c, topic);
  if (auto pf = a.get("--partition")) {
    int32_t want = int32_t(parse_i64("--partition", *pf, 0));
    std::erase_if(parts, [&](const partition_meta& pm) { return pm.id != want; });
    if (parts.empty()) throw cli_error{fmt::format("topic '{}' has no partition {}", topic, want)};
  }
  std::string from = a.get("--offset").value_or("beginning");
  std::map<int32_t, int64_t> next;
  if (from == "beginning") next = offsets_at(c, topic, parts, -2);
  else if (from == "end") next = offsets_at(c, topic, parts, -1);
  else {
    int64_t o = parse_i64("--offset", from, 0);
    for (const auto& pm : parts) next[pm.id] = o;
  }
  int64_t limit = a.get("--count") ? parse_i64("--count", *a.get("--count"), 1) : -1;
  bool exit_at_end = a.has("--exit");
  bool json = a.get("--format").value_or("table") == "json";
  auto key_sep = a.get("--key-separator");
  progress prog(a.has("--progress"));
  int64_t printed = 0, bytes = 0;
  std::map<int32_t, bool> at_end;

  std::map<int32_t, std::vector<int32_t>> by_leader;
  for (const auto& pm : parts) by_leader[pm.leader].push_back(pm.id);

  int fetch_retries = 0;
  while (limit < 0 || printed < limit) {
    bool refresh = false;
    for (auto& [leader, pids] : by_leader) {
      p::fetch_request req;
      req.replica_id = -1;
      req.max_wait_ms = exit_at_end ? 100 : 500;
      req.min_bytes = 1;
      req.max_bytes = 52428800;
      req.isolation_level = 0;
      auto& ft = req.topics.emplace_back();
      ft.topic = topic;
      for (int32_t pid : pids) {
        auto& fp = ft.partitions.emplace_back();
        fp.partition = pid;
        fp.fetch_offset = next[pid];
        fp.partition_max_bytes = 1048576;
      }
      client::connection* b = must(c.broker(leader));
      auto resp = must(b->call<p::fetch_request, p::fetch_response>(req, 12));
      if (resp.error_code) throw cli_error{fmt::format("cannot fetch from {}: {}", topic, error_name(resp.error_code))};
      for (const auto& t : resp.responses)
        for (const auto& pd : t.partitions) {
          if (pd.error_code) {
            if (retriable(pd.error_code) && ++fetch_retries < k_attempts) {
              refresh = true;
              continue;
            }
            throw cli_error{fmt::format("cannot fetch from {}-{} at offset {}: {}", topic, pd.partition_index,
                                        next[pd.partition_index], error_name(pd.error_code))};
          }
          int64_t& pos = next[pd.partition_index];
          std::span<const uint8_t> rest = pd.records.value_or(std::span<const uint8_t>{});
          while (rest.size() >= p::batch_header_size && (limit < 0 || printed < limit)) {
            auto h = p::parse_batch_header(rest);
            if (!h || h->total_size() > rest.size()) break;  // partial batch at the end
            auto batch = rest.first(h->total_size());
            rest = rest.subspan(h->total_size());
            if (h->last_offset() < pos) continue;
            if (!h->is_control()) {
              auto r = p::for_each_record(batch, [&](const p::record_view& rv) {
                if (rv.offset < pos || (limit >= 0 && printed >= limit)) return;
                std::string value(rv.value.value_or(""));
                std::string key(rv.key.value_or(""));
                if (json) {
                  std::printf("{\"topic\": %s, \"partition\": %d, \"offset\": %lld, \"timestamp\": %lld, \"key\": %s, \"value\": %s}\n",
                              json_string(topic).c_str(), pd.partition_index, (long long)rv.offset,
                              (long long)rv.timestamp, rv.key ? json_string(key).c_str() : "null",
                              rv.value ? json_string(value).c_str() : "null");
                } else if (key_sep) {
                  std::printf("%s%s%s\n", key.c_str(), key_sep->c_str(), value.c_str());
                } else {
                  std::printf("%s\n", value.c_str());
                }
                ++printed;
                bytes += int64_t(key.size() + value.size());
              });
              if (!r) throw cli_error{fmt::format("corrupt batch in {}-{} at offset {}", topic, pd.partition_index, h->base_offset)};
            }
            if (limit < 0 || printed < limit) pos = h->last_offset() + 1;
          }
          at_end[pd.partition_index] = pos >= pd.high_watermark;
        }
    }
    std::fflush(stdout);
    prog.tick("consumed", printed, bytes);
    if (refresh) {
      // A leader moved: look the partitions up again and keep the positions.
      backoff();
      auto fresh = topic_partitions(c, topic);
      by_leader.clear();
      for (const auto& pm : fresh)
        if (next.count(pm.id)) by_leader[pm.leader].push_back(pm.id);
      continue;
    }
    if (exit_at_end && at_end.size() == parts.size() &&
        std::all_of(at_end.begin(), at_end.end(), [](auto& kv) { return kv.second; }))
      break;
  }
  prog.done();
  return 0;
}

template <class Fn>
int guarded(Fn fn) {
  try {
    return fn();
  } catch (const cli_error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "gregor: %s\n", e.message.c_str());
    return e.exit_code;
  }
}

}  // namespace

int cmd_produce(const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.empty()) {
      std::fputs("usage: gregor produce TOPIC [-p PARTITION] [-K KEY_SEPARATOR] [--acks -1|0|1] [--batch-size N]\n"
                 "       (one record per stdin line; keyed records go to murmur2(key) like the Java client)\n", stderr);
      return 2;
    }
    cli_args a;
    if (auto err = parse_cli_args(args, {"--partition", "--key-separator", "--acks", "--batch-size"}, {"--progress"}, a))
      throw cli_error{*err, 2};
    return produce(a);
  });
}

int cmd_consume(const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.empty()) {
      std::fputs("usage: gregor consume TOPIC [-p PARTITION] [-o beginning|end|OFFSET] [-c COUNT] [-e] [-K SEP] [--format json]\n"
                 "       (-e: exit at the end of every partition)\n", stderr);
      return 2;
    }
    cli_args a;
    if (auto err = parse_cli_args(args, {"--partition", "--offset", "--count", "--key-separator"}, {"--exit", "--progress"}, a))
      throw cli_error{*err, 2};
    return consume(a);
  });
}

}  // namespace gregor::app
