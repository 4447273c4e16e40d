// Proves that topic configs are validated like Kafka's, described with the right values, sources
// and synonyms, and turned into typed effective settings from overrides and broker values.
#include <algorithm>

#include <gtest/gtest.h>

#include "gregor/config/broker_config.h"

using namespace gregor;
using namespace gregor::config;

namespace {

broker_config loaded(std::string_view yaml) {
  auto r = load_yaml(yaml, "t.yaml", {});
  EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error());
  return r.has_value() ? r.value() : broker_config{};
}

const config_entry_desc& entry(const std::vector<config_entry_desc>& all, std::string_view name) {
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& e) { return e.name == name; });
  if (it == all.end()) {
    ADD_FAILURE() << "no entry " << name;
    static config_entry_desc none;
    return none;
  }
  return *it;
}

}  // namespace

TEST(topic_config, valid_values_pass) {
  EXPECT_EQ(validate_topic_config("retention.ms", "-1"), "");
  EXPECT_EQ(validate_topic_config("retention.ms", "86400000"), "");
  EXPECT_EQ(validate_topic_config("cleanup.policy", "compact,delete"), "");
  EXPECT_EQ(validate_topic_config("cleanup.policy", "compact"), "");
  EXPECT_EQ(validate_topic_config("compression.type", "zstd"), "");
  EXPECT_EQ(validate_topic_config("message.timestamp.type", "LogAppendTime"), "");
  EXPECT_EQ(validate_topic_config("min.cleanable.dirty.ratio", "0.1"), "");
  EXPECT_EQ(validate_topic_config("unclean.leader.election.enable", "true"), "");
  EXPECT_EQ(validate_topic_config("segment.bytes", "1048576"), "");
  EXPECT_EQ(validate_topic_config("leader.replication.throttled.replicas", "*"), "");
  EXPECT_EQ(validate_topic_config("leader.replication.throttled.replicas", "0:1,1:2"), "");
  EXPECT_EQ(validate_topic_config("compression.gzip.level", "-1"), "");
}

TEST(topic_config, bad_values_are_refused_with_name_and_form) {
  EXPECT_EQ(validate_topic_config("retention.ms", "-2"), "topic config 'retention.ms' = '-2': expected an integer >= -1");
  EXPECT_EQ(validate_topic_config("segment.bytes", "100"),
            "topic config 'segment.bytes' = '100': expected an integer between 1048576 and 2147483647");
  EXPECT_NE(validate_topic_config("cleanup.policy", "shred"), "");
  EXPECT_NE(validate_topic_config("cleanup.policy", ""), "");
  EXPECT_NE(validate_topic_config("compression.type", "brotli"), "");
  EXPECT_NE(validate_topic_config("message.timestamp.type", "createtime"), "");
  EXPECT_NE(validate_topic_config("min.cleanable.dirty.ratio", "1.5"), "");
  EXPECT_NE(validate_topic_config("preallocate", "yes"), "");
  EXPECT_NE(validate_topic_config("min.insync.replicas", "0"), "");
  EXPECT_NE(validate_topic_config("max.message.bytes", "abc"), "");
  EXPECT_NE(validate_topic_config("leader.replication.throttled.replicas", "0-1"), "");
  EXPECT_NE(validate_topic_config("compression.gzip.level", "0"), "");
  EXPECT_NE(validate_topic_config("remote.storage.enable", "true"), "");
}

TEST(topic_config, unknown_name_is_refused_with_did_you_mean) {
  EXPECT_EQ(validate_topic_config("retention.mss", "1"), "unknown topic config 'retention.mss' (did you mean 'retention.ms'?)");
  EXPECT_FALSE(is_topic_config("log.retention.ms"));
  EXPECT_TRUE(is_topic_config("segment.ms"));
}

TEST(topic_config, describe_lists_every_topic_config_with_defaults_from_the_broker) {
  broker_config b;
  auto all = describe_topic_configs({}, b);
  EXPECT_GE(all.size(), 30u);
  EXPECT_EQ(all.size(), topic_config_names().size());
  const auto& r = entry(all, "retention.ms");
  EXPECT_EQ(r.value, "604800000");
  EXPECT_EQ(r.source, config_source::default_config);
  EXPECT_EQ(r.type, config_type::long_);
  EXPECT_FALSE(r.documentation.empty());
  // Kafka drops the synonyms before the primary broker key (log.retention.ms, null by default):
  // no synonym, not log.retention.hours's default (found by the differential check).
  EXPECT_TRUE(r.synonyms.empty());
  EXPECT_TRUE(entry(all, "segment.ms").synonyms.empty());
  EXPECT_TRUE(entry(all, "flush.ms").synonyms.empty());  // not log.flush.scheduler.interval.ms
  ASSERT_EQ(entry(all, "segment.bytes").synonyms.size(), 1u);
  EXPECT_EQ(entry(all, "segment.bytes").synonyms[0].name, "log.segment.bytes");
  EXPECT_EQ(entry(all, "max.message.bytes").value, "1048588");
  EXPECT_EQ(entry(all, "max.message.bytes").type, config_type::int_);
  EXPECT_EQ(entry(all, "cleanup.policy").type, config_type::list);
  EXPECT_EQ(entry(all, "flush.ms").value, "9223372036854775807");
  EXPECT_EQ(entry(all, "segment.ms").value, "604800000");
  EXPECT_EQ(entry(all, "message.timestamp.after.max.ms").value, "3600000");
  EXPECT_EQ(entry(all, "min.cleanable.dirty.ratio").value, "0.5");
  EXPECT_EQ(entry(all, "min.cleanable.dirty.ratio").type, config_type::double_);
}

TEST(topic_config, broker_values_set_in_the_file_are_static_broker_config) {
  broker_config b = loaded("log.retention.hours: 24\nmessage.max.bytes: 2000000\n");
  auto all = describe_topic_configs({}, b);
  const auto& r = entry(all, "retention.ms");
  EXPECT_EQ(r.value, "86400000");
  // As Kafka: the synonyms start at log.retention.ms (unset here), so none is listed and the
  // source, the first synonym's, is DEFAULT_CONFIG; the value is the effective one.
  EXPECT_EQ(r.source, config_source::default_config);
  EXPECT_TRUE(r.synonyms.empty());
  EXPECT_EQ(entry(all, "max.message.bytes").value, "2000000");
  EXPECT_EQ(entry(all, "max.message.bytes").source, config_source::static_broker_config);
  EXPECT_EQ(entry(all, "segment.bytes").source, config_source::default_config);
}

TEST(topic_config, overrides_are_topic_config_with_their_synonym_first) {
  broker_config b = loaded("log.retention.ms: 1000\n");
  auto all = describe_topic_configs({{"retention.ms", "5000"}}, b);
  const auto& r = entry(all, "retention.ms");
  EXPECT_EQ(r.value, "5000");
  EXPECT_EQ(r.source, config_source::topic_config);
  ASSERT_GE(r.synonyms.size(), 3u);
  EXPECT_EQ(r.synonyms[0].name, "retention.ms");
  EXPECT_EQ(r.synonyms[0].source, config_source::topic_config);
  EXPECT_EQ(r.synonyms[1].name, "log.retention.ms");
  EXPECT_EQ(r.synonyms[1].value, "1000");
}

TEST(topic_config, broker_describe_reports_sources_and_values) {
  broker_config b = loaded("num.partitions: 3\n");
  auto all = describe_broker_configs(b);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.name < y.name; }));
  EXPECT_EQ(entry(all, "num.partitions").value, "3");
  EXPECT_EQ(entry(all, "num.partitions").source, config_source::static_broker_config);
  EXPECT_EQ(entry(all, "message.max.bytes").value, "1048588");
  EXPECT_EQ(entry(all, "message.max.bytes").source, config_source::default_config);
  EXPECT_EQ(entry(all, "listeners").value, "PLAINTEXT://0.0.0.0:9092");
  EXPECT_EQ(entry(all, "log.retention.hours").value, "168");
  // Unset keys whose Kafka default is null are described as null (Kafka's DescribeConfigs), even
  // where Gregor derives a value from another key.
  EXPECT_TRUE(entry(all, "log.retention.ms").is_null);
  EXPECT_TRUE(entry(all, "log.roll.ms").is_null);
  EXPECT_TRUE(entry(all, "log.flush.interval.ms").is_null);
  EXPECT_TRUE(entry(all, "metadata.log.dir").is_null);
  EXPECT_TRUE(entry(all, "metadata.log.dir").synonyms.empty());
  EXPECT_TRUE(entry(all, "log.retention.minutes").is_null);
  EXPECT_FALSE(entry(all, "sasl.oauthbearer.expected.audience").is_null);
  EXPECT_EQ(entry(all, "sasl.oauthbearer.expected.audience").value, "");
  EXPECT_EQ(entry(all, "principal.builder.class").value,
            "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder");
  EXPECT_TRUE(entry(all, "num.partitions").read_only);
}

TEST(topic_config, broker_describe_lists_node_id_as_kafka_does) {
  broker_config b = loaded("node.id: 3\nprocess.roles: broker,controller\n");
  auto all = describe_broker_configs(b);
  // No DEFAULT synonym where Kafka has no default.
  ASSERT_EQ(entry(all, "node.id").synonyms.size(), 1u);
  EXPECT_EQ(entry(all, "node.id").synonyms[0].source, config_source::static_broker_config);
  ASSERT_EQ(entry(all, "process.roles").synonyms.size(), 1u);
  // Kafka copies node.id into broker.id: static, with the default -1 after it.
  const auto& id = entry(all, "broker.id");
  EXPECT_EQ(id.value, "3");
  EXPECT_EQ(id.source, config_source::static_broker_config);
  ASSERT_EQ(id.synonyms.size(), 2u);
  EXPECT_EQ(id.synonyms[1].value, "-1");
  EXPECT_EQ(id.synonyms[1].source, config_source::default_config);
}

TEST(topic_config, effective_settings_take_overrides_over_broker_values) {
  broker_config b = loaded("log.segment.bytes: 2097152\nlog.flush.interval.ms: 1000\n");
  topic_settings s = effective_topic_settings({{"retention.ms", "123"}, {"cleanup.policy", "compact, delete"},
                                               {"max.message.bytes", "500"}, {"min.insync.replicas", "2"}},
                                              b);
  EXPECT_EQ(s.retention_ms, 123);
  EXPECT_EQ(s.segment_bytes, 2097152);
  EXPECT_EQ(s.flush_ms, 1000);
  EXPECT_EQ(s.max_message_bytes, 500);
  EXPECT_EQ(s.min_insync_replicas, 2);
  EXPECT_EQ(s.cleanup_policy, "compact,delete");
  EXPECT_TRUE(s.compact());
  EXPECT_TRUE(s.delete_enabled());
  EXPECT_EQ(s.segment_ms, 604800000);
  EXPECT_EQ(s.message_timestamp_type, "CreateTime");
  EXPECT_EQ(s.compression_type, "producer");
  EXPECT_EQ(s.flush_messages, INT64_MAX);
  EXPECT_EQ(s.segment_index_bytes, 10485760);
  EXPECT_EQ(s.index_interval_bytes, 4096);
}

TEST(topic_config, effective_flush_ms_falls_back_to_the_scheduler_interval) {
  broker_config b;
  EXPECT_EQ(effective_topic_settings({}, b).flush_ms, INT64_MAX);
}
