// Kafka's topic-level configs: names, types, validators, documentation, and the broker keys whose
// values are their defaults (retention.ms ← log.retention.ms, .minutes, .hours, ...).
#include <algorithm>
#include <set>
#include <functional>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>

#include "broker_keys.h"
#include "gregor/config/broker_config.h"
#include "parse.h"

namespace gregor::config {
namespace {

constexpr int64_t k_no_max = std::numeric_limits<int64_t>::max();
constexpr int64_t k_no_min = std::numeric_limits<int64_t>::min();

struct topic_key {
  std::string name;
  int8_t type = config_type::string;
  std::string doc;
  std::vector<std::string> broker_synonyms;  // Kafka's order: the most specific first
  // "" if the value is acceptable, else the expected form.
  std::function<std::string(std::string_view)> check;
  // The value this topic gets from the broker config when there is no override.
  std::function<std::string(const broker_config&)> from_broker;
};

std::function<std::string(std::string_view)> int_check(int64_t min, int64_t max) {
  return [min, max](std::string_view v) -> std::string {
    int64_t x = 0;
    if (!detail::parse_int64(v, x) || x < min || x > max) return detail::int_range_phrase(min, max);
    return "";
  };
}
std::function<std::string(std::string_view)> bool_check() {
  return [](std::string_view v) -> std::string {
    bool x = false;
    return detail::parse_bool(v, x) ? "" : "true or false";
  };
}
std::function<std::string(std::string_view)> one_of(std::vector<std::string> allowed) {
  return [allowed](std::string_view v) -> std::string {
    if (std::find(allowed.begin(), allowed.end(), std::string(detail::trim(v))) != allowed.end()) return "";
    return "one of " + detail::join_list(allowed);
  };
}
// "*" or a list of partition:broker pairs (leader/follower.replication.throttled.replicas).
std::string throttled_check(std::string_view v) {
  auto items = detail::split_list(v);
  if (items.size() == 1 && items[0] == "*") return "";
  for (const auto& item : items) {
    size_t colon = item.find(':');
    int64_t a = 0, b = 0;
    if (colon == std::string::npos || !detail::parse_int64(item.substr(0, colon), a) ||
        !detail::parse_int64(item.substr(colon + 1), b) || a < 0 || b < 0)
      return "'*' or a comma-separated list of partition:broker pairs";
  }
  return "";
}

template <class F>
std::function<std::string(const broker_config&)> num(F f) {
  return [f](const broker_config& b) { return std::to_string(f(b)); };
}
std::function<std::string(const broker_config&)> boolean(bool broker_config::*m) {
  return [m](const broker_config& b) -> std::string { return b.*m ? "true" : "false"; };
}
std::function<std::string(const broker_config&)> constant(std::string v) {
  return [v](const broker_config&) { return v; };
}

int64_t flush_ms_of(const broker_config& b) {
  return b.log_flush_interval_ms >= 0 ? b.log_flush_interval_ms : b.log_flush_scheduler_interval_ms;
}

std::vector<topic_key> build_topic_table() {
  using B = broker_config;
  const int64_t i32 = std::numeric_limits<int32_t>::max();
  std::vector<topic_key> t;
  auto add = [&](std::string name, int8_t type, std::vector<std::string> syn,
                 std::function<std::string(std::string_view)> check,
                 std::function<std::string(const B&)> from_broker, std::string doc) {
    t.push_back(topic_key{std::move(name), type, std::move(doc), std::move(syn), std::move(check), std::move(from_broker)});
  };
  add("cleanup.policy", config_type::list, {"log.cleanup.policy"}, &detail::check_cleanup_policy,
      [](const B& b) { return b.log_cleanup_policy; },
      "delete: remove old segments past retention; compact: keep the latest record per key; both: compact and delete.");
  add("compression.type", config_type::string, {"compression.type"},
      one_of({"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}),
      [](const B& b) { return b.compression_type; },
      "Final compression of the topic's data; producer keeps the codec the producer used.");
  add("compression.gzip.level", config_type::int_, {"compression.gzip.level"},
      [](std::string_view v) -> std::string {
        int64_t x = 0;
        if (detail::parse_int64(v, x) && (x == -1 || (x >= 1 && x <= 9))) return "";
        return "-1 or an integer between 1 and 9";
      },
      num([](const B& b) { return b.compression_gzip_level; }), "Gzip level when compression.type is gzip.");
  add("compression.lz4.level", config_type::int_, {"compression.lz4.level"}, int_check(1, 17),
      num([](const B& b) { return b.compression_lz4_level; }), "LZ4 level when compression.type is lz4.");
  add("compression.zstd.level", config_type::int_, {"compression.zstd.level"}, int_check(-131072, 22),
      num([](const B& b) { return b.compression_zstd_level; }), "Zstd level when compression.type is zstd.");
  add("delete.retention.ms", config_type::long_, {"log.cleaner.delete.retention.ms"}, int_check(0, k_no_max),
      num([](const B& b) { return b.log_cleaner_delete_retention_ms; }),
      "How long delete tombstones are kept in a compacted topic.");
  add("file.delete.delay.ms", config_type::long_, {"log.segment.delete.delay.ms"}, int_check(0, k_no_max),
      num([](const B& b) { return b.log_segment_delete_delay_ms; }),
      "Delay before a deleted segment's files are removed from disk.");
  add("flush.messages", config_type::long_, {"log.flush.interval.messages"}, int_check(1, k_no_max),
      num([](const B& b) { return b.log_flush_interval_messages; }), "Messages appended before an fsync.");
  add("flush.ms", config_type::long_, {"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
      int_check(0, k_no_max), num(flush_ms_of), "Milliseconds a message may stay unflushed.");
  add("follower.replication.throttled.replicas", config_type::list, {}, &throttled_check, constant(""),
      "Replicas whose follower-side replication is throttled (follower.replication.throttled.rate of the broker named): '*' or partition:broker pairs.");
  add("index.interval.bytes", config_type::int_, {"log.index.interval.bytes"}, int_check(0, i32),
      num([](const B& b) { return b.log_index_interval_bytes; }), "Bytes between offset index entries.");
  add("leader.replication.throttled.replicas", config_type::list, {}, &throttled_check, constant(""),
      "Replicas whose leader-side replication is throttled (leader.replication.throttled.rate of the broker named): '*' or partition:broker pairs.");
  add("local.retention.bytes", config_type::long_, {"log.local.retention.bytes"}, int_check(-2, k_no_max),
      num([](const B& b) { return b.log_local_retention_bytes; }),
      "Local bytes kept with tiered storage; -2 = retention.bytes.");
  add("local.retention.ms", config_type::long_, {"log.local.retention.ms"}, int_check(-2, k_no_max),
      num([](const B& b) { return b.log_local_retention_ms; }),
      "Local retention time with tiered storage; -2 = retention.ms.");
  add("max.compaction.lag.ms", config_type::long_, {"log.cleaner.max.compaction.lag.ms"}, int_check(1, k_no_max),
      num([](const B& b) { return b.log_cleaner_max_compaction_lag_ms; }),
      "Maximum time a record stays uncompacted.");
  add("max.message.bytes", config_type::int_, {"message.max.bytes"}, int_check(0, i32),
      num([](const B& b) { return b.message_max_bytes; }), "The largest record batch size the topic accepts.");
  add("message.timestamp.after.max.ms", config_type::long_, {"log.message.timestamp.after.max.ms"},
      int_check(0, k_no_max), num([](const B& b) { return b.log_message_timestamp_after_max_ms; }),
      "How far a CreateTime timestamp may lie after the broker's clock.");
  add("message.timestamp.before.max.ms", config_type::long_, {"log.message.timestamp.before.max.ms"},
      int_check(0, k_no_max), num([](const B& b) { return b.log_message_timestamp_before_max_ms; }),
      "How far a CreateTime timestamp may lie before the broker's clock.");
  add("message.timestamp.type", config_type::string, {"log.message.timestamp.type"},
      one_of({"CreateTime", "LogAppendTime"}), [](const B& b) { return b.log_message_timestamp_type; },
      "CreateTime keeps the producer's timestamp; LogAppendTime uses the broker's clock.");
  add("min.cleanable.dirty.ratio", config_type::double_, {"log.cleaner.min.cleanable.ratio"},
      [](std::string_view v) -> std::string {
        double x = 0;
        return detail::parse_double(v, x) && x >= 0 && x <= 1 ? "" : "a number between 0 and 1";
      },
      [](const B& b) { return fmt::format("{}", b.log_cleaner_min_cleanable_ratio); },
      "Minimum dirty/total ratio before the log is compacted.");
  add("min.compaction.lag.ms", config_type::long_, {"log.cleaner.min.compaction.lag.ms"}, int_check(0, k_no_max),
      num([](const B& b) { return b.log_cleaner_min_compaction_lag_ms; }),
      "Minimum time a record stays uncompacted.");
  add("min.insync.replicas", config_type::int_, {"min.insync.replicas"}, int_check(1, i32),
      num([](const B& b) { return b.min_insync_replicas; }),
      "Minimum in-sync replicas for an acks=all produce to succeed.");
  add("preallocate", config_type::boolean, {"log.preallocate"}, bool_check(), boolean(&B::log_preallocate),
      "Preallocate segment files.");
  add("remote.log.copy.disable", config_type::boolean, {}, bool_check(), constant("false"),
      "Stop copying segments to tiered storage.");
  add("remote.log.delete.on.disable", config_type::boolean, {}, bool_check(), constant("false"),
      "Delete tiered data when tiered storage is disabled.");
  add("remote.storage.enable", config_type::boolean, {}, bool_check(), constant("false"),
      "Tiered storage for this topic (not supported by Gregor; false only).");
  add("retention.bytes", config_type::long_, {"log.retention.bytes"}, int_check(k_no_min, k_no_max),
      num([](const B& b) { return b.log_retention_bytes; }), "Retention size per partition in bytes; -1 = unlimited.");
  add("retention.ms", config_type::long_, {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
      int_check(-1, k_no_max), num([](const B& b) { return b.log_retention_ms; }),
      "Retention time in milliseconds; -1 = forever.");
  add("segment.bytes", config_type::int_, {"log.segment.bytes"}, int_check(1024 * 1024, i32),
      num([](const B& b) { return b.log_segment_bytes; }), "The maximum size of a segment file.");
  add("segment.index.bytes", config_type::int_, {"log.index.size.max.bytes"}, int_check(4, i32),
      num([](const B& b) { return b.log_index_size_max_bytes; }), "The maximum size of a segment's offset index.");
  add("segment.jitter.ms", config_type::long_, {"log.roll.jitter.ms", "log.roll.jitter.hours"},
      int_check(0, k_no_max), num([](const B& b) { return b.log_roll_jitter_ms; }),
      "Maximum random jitter subtracted from segment.ms.");
  add("segment.ms", config_type::long_, {"log.roll.ms", "log.roll.hours"}, int_check(1, k_no_max),
      num([](const B& b) { return b.log_roll_ms; }), "A segment is rolled after this many milliseconds.");
  add("unclean.leader.election.enable", config_type::boolean, {"unclean.leader.election.enable"}, bool_check(),
      boolean(&B::unclean_leader_election_enable), "Allow an out-of-sync replica to become leader.");
  return t;
}

const std::vector<topic_key>& topic_keys() {
  static const std::vector<topic_key> table = build_topic_table();  // sorted by name
  return table;
}

const topic_key* find_topic_key(std::string_view name) {
  static const std::unordered_map<std::string, size_t> index = [] {
    std::unordered_map<std::string, size_t> m;
    for (size_t i = 0; i < topic_keys().size(); ++i) m.emplace(topic_keys()[i].name, i);
    return m;
  }();
  auto it = index.find(std::string(name));
  return it == index.end() ? nullptr : &topic_keys()[it->second];
}

// As Kafka lists them (ConfigHelper's configSynonyms): level by level (dynamic broker, dynamic
// default, static, default), each level in synonym order; then the entries before the first of the
// primary broker key are dropped, so a topic's ms config whose primary key (log.retention.ms,
// log.roll.ms, log.flush.interval.ms) is unset lists no synonym, not the hours key's default.
std::vector<config_synonym> broker_synonyms(const topic_key& k, const broker_config& b) {
  std::vector<config_synonym> out;
  auto level = [&](const std::map<std::string, std::string>& values, int8_t source) {
    for (const auto& s : k.broker_synonyms)
      if (auto it = values.find(s); it != values.end()) out.push_back({s, it->second, false, source});
  };
  level(b.dynamic_broker_values, config_source::dynamic_broker_config);
  level(b.dynamic_default_values, config_source::dynamic_default_broker_config);
  level(b.explicit_values, config_source::static_broker_config);
  for (const auto& s : k.broker_synonyms) {
    if (const auto* bk = detail::find_broker_key(s)) {
      if (auto d = detail::broker_default_text(*bk)) out.push_back({s, *d, false, config_source::default_config});
    }
  }
  if (!k.broker_synonyms.empty()) {
    const auto& primary = k.broker_synonyms.front();
    out.erase(out.begin(), std::find_if(out.begin(), out.end(), [&](const config_synonym& s) { return s.name == primary; }));
  }
  return out;
}

// Kafka describes a secret with null as its value and its synonyms' values.
void hide_values(config_entry_desc& e) {
  e.value.clear();
  e.is_null = true;
  for (auto& syn : e.synonyms) {
    syn.value.clear();
    syn.is_null = true;
  }
}

}  // namespace

namespace detail {
std::vector<std::string> topic_primary_broker_synonyms() {
  std::vector<std::string> out;
  for (const auto& k : topic_keys())
    if (!k.broker_synonyms.empty()) out.push_back(k.broker_synonyms.front());
  return out;
}
}  // namespace detail

bool is_topic_config(std::string_view name) { return find_topic_key(name) != nullptr; }

std::vector<std::string> topic_config_names() {
  std::vector<std::string> out;
  for (const auto& k : topic_keys()) out.push_back(k.name);
  std::sort(out.begin(), out.end());
  return out;
}

std::string validate_topic_config(std::string_view name, std::string_view value) {
  const topic_key* k = find_topic_key(name);
  if (!k) {
    static const std::vector<std::string_view> names = [] {
      std::vector<std::string_view> out;
      for (const auto& t : topic_keys()) out.push_back(t.name);
      return out;
    }();
    if (std::string best = detail::closest_name(name, names); !best.empty())
      return fmt::format("unknown topic config '{}' (did you mean '{}'?)", name, best);
    return fmt::format("unknown topic config '{}'", name);
  }
  std::string expected = k->check(value);
  if (!expected.empty()) return fmt::format("topic config '{}' = '{}': expected {}", name, value, expected);
  if (name == "remote.storage.enable") {
    bool on = false;
    detail::parse_bool(value, on);
    if (on) return "topic config 'remote.storage.enable' = 'true': tiered storage is not supported";
  }
  return "";
}

std::vector<config_entry_desc> describe_topic_configs(const std::map<std::string, std::string>& overrides,
                                                      const broker_config& b) {
  std::vector<config_entry_desc> out;
  for (const auto& k : topic_keys()) {
    config_entry_desc e;
    e.name = k.name;
    e.type = k.type;
    e.documentation = k.doc;
    e.read_only = false;
    e.sensitive = false;
    e.synonyms = broker_synonyms(k, b);
    auto it = overrides.find(k.name);
    if (it != overrides.end()) {
      e.value = it->second;
      e.source = config_source::topic_config;
      e.synonyms.insert(e.synonyms.begin(), config_synonym{k.name, it->second, false, config_source::topic_config});
    } else {
      e.value = k.from_broker(b);
      // Kafka's source is its first synonym's (the most specific level the primary broker key is
      // set at), DEFAULT_CONFIG when none is left.
      e.source = e.synonyms.empty() ? config_source::default_config : e.synonyms.front().source;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<config_entry_desc> describe_broker_configs(const broker_config& b) {
  std::vector<config_entry_desc> out;
  for (const auto& k : detail::broker_keys()) {
    config_entry_desc e;
    e.name = k.name;
    e.type = k.type;
    e.documentation = k.doc;
    e.read_only = !is_dynamic_broker_config(k.name);
    e.sensitive = k.sensitive;
    auto dyn_broker = b.dynamic_broker_values.find(k.name);
    auto dyn_default = b.dynamic_default_values.find(k.name);
    auto it = b.explicit_values.find(k.name);
    if (dyn_broker != b.dynamic_broker_values.end())
      e.synonyms.push_back({k.name, dyn_broker->second, false, config_source::dynamic_broker_config});
    if (dyn_default != b.dynamic_default_values.end())
      e.synonyms.push_back({k.name, dyn_default->second, false, config_source::dynamic_default_broker_config});
    if (it != b.explicit_values.end())
      e.synonyms.push_back({k.name, it->second, false, config_source::static_broker_config});
    if (!e.synonyms.empty()) {
      e.value = e.synonyms.front().value;
      e.source = e.synonyms.front().source;
    } else if (k.name == "broker.id" && b.is_set("node.id")) {
      // Kafka copies node.id into broker.id: a static value, with its default -1 as a synonym.
      e.value = k.get(b);
      e.source = config_source::static_broker_config;
      e.synonyms.push_back({k.name, e.value, false, config_source::static_broker_config});
      e.synonyms.push_back({k.name, "-1", false, config_source::default_config});
      out.push_back(std::move(e));
      continue;
    } else {
      // Unset: the default, or null where Kafka's default is null (the *.ms twins of the *.hours
      // keys, log.flush.interval.ms: the effective value is the topic configs' and the hours key's).
      e.source = config_source::default_config;
      auto d = detail::broker_default_text(k);
      e.value = k.null_default ? std::string() : k.get(b);
      e.is_null = k.null_default || (!d.has_value() && e.value.empty());
    }
    if (auto d = detail::broker_default_text(k); d && k.default_synonym)
      e.synonyms.push_back({k.name, *d, false, config_source::default_config});
    if (k.sensitive) hide_values(e);
    out.push_back(std::move(e));
  }
  // Listener overrides set statically or dynamically (listener.name.<l>.<key>), as Kafka lists them:
  // synonyms are the override, then the key it overrides (Kafka's brokerConfigSynonyms).
  std::set<std::string> prefixed;
  for (const auto* from : {&b.explicit_values, &b.dynamic_broker_values})
    for (const auto& [name, value] : *from)
      if (detail::listener_prefixed_base(name)) prefixed.insert(name);
  for (const auto& name : prefixed) {
    const auto base = *detail::listener_prefixed_base(name);
    const auto* k = detail::find_broker_key(base);
    config_entry_desc e;
    e.name = name;
    e.type = k ? k->type : config_type::unknown;
    e.documentation = k ? k->doc : "";
    e.read_only = !is_dynamic_broker_config(name);
    e.sensitive = (k && k->sensitive) || name.ends_with(".sasl.jaas.config");
    if (auto it = b.dynamic_broker_values.find(name); it != b.dynamic_broker_values.end())
      e.synonyms.push_back({name, it->second, false, config_source::dynamic_broker_config});
    if (auto it = b.explicit_values.find(name); it != b.explicit_values.end())
      e.synonyms.push_back({name, it->second, false, config_source::static_broker_config});
    e.value = e.synonyms.front().value;
    e.source = e.synonyms.front().source;
    if (auto it = b.explicit_values.find(base); it != b.explicit_values.end())
      e.synonyms.push_back({base, it->second, false, config_source::static_broker_config});
    if (k) {
      if (auto d = detail::broker_default_text(*k)) e.synonyms.push_back({base, *d, false, config_source::default_config});
    }
    if (e.sensitive) hide_values(e);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  return out;
}

std::vector<config_entry_desc> describe_default_broker_configs(const broker_config& b) {
  std::vector<config_entry_desc> out;
  for (const auto& [name, value] : b.dynamic_default_values) {
    const auto* k = detail::find_broker_key(name);
    config_entry_desc e;
    e.name = name;
    e.value = value;
    e.source = config_source::dynamic_default_broker_config;
    e.type = k ? k->type : config_type::unknown;
    e.documentation = k ? k->doc : "";
    e.read_only = !is_dynamic_broker_config(name);
    e.synonyms.push_back({name, value, false, config_source::dynamic_default_broker_config});
    if (auto it = b.explicit_values.find(name); it != b.explicit_values.end())
      e.synonyms.push_back({name, it->second, false, config_source::static_broker_config});
    if (k) {
      if (auto d = detail::broker_default_text(*k)) e.synonyms.push_back({name, *d, false, config_source::default_config});
    }
    out.push_back(std::move(e));
  }
  return out;
}

topic_settings effective_topic_settings(const std::map<std::string, std::string>& overrides,
                                        const broker_config& b) {
  auto i64 = [&](const char* name, int64_t fallback) {
    auto it = overrides.find(name);
    int64_t v = 0;
    if (it != overrides.end() && detail::parse_int64(it->second, v)) return v;
    return fallback;
  };
  auto i32 = [&](const char* name, int64_t fallback) {
    int64_t v = i64(name, fallback);
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) v = fallback;
    return static_cast<int32_t>(v);
  };
  auto str = [&](const char* name, const std::string& fallback) {
    auto it = overrides.find(name);
    return it != overrides.end() ? std::string(detail::trim(it->second)) : fallback;
  };
  auto boolean_of = [&](const char* name, bool fallback) {
    auto it = overrides.find(name);
    bool v = fallback;
    if (it != overrides.end()) detail::parse_bool(it->second, v);
    return v;
  };
  topic_settings s;
  s.segment_bytes = i64("segment.bytes", b.log_segment_bytes);
  s.segment_ms = i64("segment.ms", b.log_roll_ms);
  s.retention_ms = i64("retention.ms", b.log_retention_ms);
  s.retention_bytes = i64("retention.bytes", b.log_retention_bytes);
  s.max_message_bytes = i32("max.message.bytes", b.message_max_bytes);
  s.index_interval_bytes = i32("index.interval.bytes", b.log_index_interval_bytes);
  s.segment_index_bytes = i32("segment.index.bytes", b.log_index_size_max_bytes);
  s.flush_messages = i64("flush.messages", b.log_flush_interval_messages);
  s.flush_ms = i64("flush.ms", flush_ms_of(b));
  s.cleanup_policy = detail::join_list(detail::split_list(str("cleanup.policy", b.log_cleanup_policy)));
  s.message_timestamp_type = str("message.timestamp.type", b.log_message_timestamp_type);
  s.compression_type = str("compression.type", b.compression_type);
  s.message_timestamp_before_max_ms = i64("message.timestamp.before.max.ms", b.log_message_timestamp_before_max_ms);
  s.message_timestamp_after_max_ms = i64("message.timestamp.after.max.ms", b.log_message_timestamp_after_max_ms);
  s.min_insync_replicas = i32("min.insync.replicas", b.min_insync_replicas);
  s.segment_jitter_ms = i64("segment.jitter.ms", b.log_roll_jitter_ms);
  s.delete_retention_ms = i64("delete.retention.ms", b.log_cleaner_delete_retention_ms);
  s.min_compaction_lag_ms = i64("min.compaction.lag.ms", b.log_cleaner_min_compaction_lag_ms);
  s.max_compaction_lag_ms = i64("max.compaction.lag.ms", b.log_cleaner_max_compaction_lag_ms);
  s.file_delete_delay_ms = i64("file.delete.delay.ms", b.log_segment_delete_delay_ms);
  s.min_cleanable_dirty_ratio = b.log_cleaner_min_cleanable_ratio;
  if (auto it = overrides.find("min.cleanable.dirty.ratio"); it != overrides.end())
    detail::parse_double(it->second, s.min_cleanable_dirty_ratio);
  s.preallocate = boolean_of("preallocate", b.log_preallocate);
  s.producer_id_expiration_ms = b.producer_id_expiration_ms;
  s.direct_io = b.log_direct_io;
  s.unclean_leader_election_enable = boolean_of("unclean.leader.election.enable", b.unclean_leader_election_enable);
  return s;
}

}  // namespace gregor::config
