// Proves that dynamic broker configs follow Kafka's DynamicBrokerConfig: only runtime-changeable
// configs are accepted (read-only ones get Kafka's message), per-broker values win over cluster
// defaults which win over static ones (alias precedence kept across levels), and DescribeConfigs
// reports DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG sources with synonyms; a
// listener's key store and trust store change per broker only, with the listener prefix.
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

const config_entry_desc* find(const std::vector<config_entry_desc>& all, std::string_view name) {
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& e) { return e.name == name; });
  return it == all.end() ? nullptr : &*it;
}

}  // namespace

TEST(dynamic_broker_config, log_and_cleaner_configs_are_dynamic_and_identity_ones_are_not) {
  for (const char* n :
       {"log.retention.ms", "log.retention.bytes", "log.segment.bytes", "log.roll.ms",
        "log.cleanup.policy", "log.flush.interval.messages", "log.flush.interval.ms",
        "message.max.bytes", "log.cleaner.threads", "log.cleaner.dedupe.buffer.size",
        "log.cleaner.min.cleanable.ratio", "num.io.threads", "producer.id.expiration.ms"})
    EXPECT_TRUE(is_dynamic_broker_config(n)) << n;
  for (const char* n :
       {"auto.create.topics.enable", "node.id", "log.dirs", "log.retention.hours", "log.roll.hours",
        "log.cleaner.enable", "listeners", "log.retention.check.interval.ms"})
    EXPECT_FALSE(is_dynamic_broker_config(n)) << n;
}

TEST(dynamic_broker_config, read_only_config_is_refused_with_kafkas_message) {
  EXPECT_EQ(validate_dynamic_broker_changes({{"auto.create.topics.enable", "false"}}, true),
            "Cannot update these configs dynamically: Set(auto.create.topics.enable)");
  EXPECT_EQ(validate_dynamic_broker_changes({{"log.retention.hours", "1"}, {"node.id", "3"}}, true),
            "Cannot update these configs dynamically: Set(log.retention.hours, node.id)");
  EXPECT_EQ(validate_dynamic_broker_changes(
                {{"log.retention.ms", "1000"}, {"log.segment.bytes", std::nullopt}}, false),
            "");
}

TEST(dynamic_broker_config, bad_value_and_unknown_name_are_refused) {
  auto why = validate_dynamic_broker_changes({{"log.retention.ms", "abc"}}, true);
  EXPECT_NE(why.find("Invalid value abc for configuration log.retention.ms"), std::string::npos)
      << why;
  why = validate_dynamic_broker_changes({{"log.segment.bytes", "12"}}, true);
  EXPECT_NE(why.find("log.segment.bytes"), std::string::npos) << why;
  EXPECT_EQ(validate_dynamic_broker_changes({{"log.retension.ms", "1"}}, true),
            "Unknown broker config name: log.retension.ms");
}

TEST(dynamic_broker_config, per_broker_value_wins_over_default_which_wins_over_static) {
  auto s = loaded("log.retention.ms: 1000\nlog.segment.bytes: 2097152\n");
  auto b = with_dynamic(s, {{"log.retention.ms", "2000"}, {"log.segment.bytes", "3145728"}},
                        {{"log.retention.ms", "3000"}});
  EXPECT_EQ(b.log_retention_ms, 3000);
  EXPECT_EQ(b.log_segment_bytes, 3145728);
  EXPECT_EQ(s.log_retention_ms, 1000) << "the static config is untouched";
  auto back = with_dynamic(s, {}, {});
  EXPECT_EQ(back.log_retention_ms, 1000);
  EXPECT_EQ(back.log_segment_bytes, 2097152);
}

TEST(dynamic_broker_config, dynamic_ms_wins_over_static_hours_and_static_ms_over_nothing) {
  auto s = loaded("log.retention.hours: 5\n");
  EXPECT_EQ(s.log_retention_ms, 5 * 3600000);
  auto b = with_dynamic(s, {{"log.retention.ms", "777"}}, {});
  EXPECT_EQ(b.log_retention_ms, 777);
  auto s2 = loaded("log.retention.ms: 42\nlog.retention.hours: 5\n");
  auto b2 = with_dynamic(s2, {{"log.segment.bytes", "2097152"}}, {});
  EXPECT_EQ(b2.log_retention_ms, 42) << "re-applying aliases keeps ms over hours";
}

TEST(dynamic_broker_config, unusable_stored_values_are_skipped_and_named) {
  std::vector<std::string> skipped;
  auto b = with_dynamic(broker_config{},
                        {{"auto.create.topics.enable", "false"}, {"log.retention.ms", "x"}},
                        {{"log.retention.bytes", "5"}}, &skipped);
  EXPECT_TRUE(b.auto_create_topics_enable);
  EXPECT_EQ(b.log_retention_ms, 604800000);
  EXPECT_EQ(b.log_retention_bytes, 5);
  std::sort(skipped.begin(), skipped.end());
  EXPECT_EQ(skipped, (std::vector<std::string>{"auto.create.topics.enable", "log.retention.ms"}));
}

TEST(dynamic_broker_config, describe_reports_dynamic_sources_with_synonyms_in_precedence_order) {
  auto s = loaded("log.retention.ms: 1000\n");
  auto b = with_dynamic(s, {{"log.retention.ms", "2000"}, {"log.segment.bytes", "3145728"}},
                        {{"log.retention.ms", "3000"}});
  auto all = describe_broker_configs(b);
  const auto* r = find(all, "log.retention.ms");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->value, "3000");
  EXPECT_EQ(r->source, config_source::dynamic_broker_config);
  EXPECT_FALSE(r->read_only);
  ASSERT_GE(r->synonyms.size(), 3u);
  EXPECT_EQ(r->synonyms[0].source, config_source::dynamic_broker_config);
  EXPECT_EQ(r->synonyms[1].source, config_source::dynamic_default_broker_config);
  EXPECT_EQ(r->synonyms[1].value, "2000");
  EXPECT_EQ(r->synonyms[2].source, config_source::static_broker_config);
  const auto* seg = find(all, "log.segment.bytes");
  ASSERT_NE(seg, nullptr);
  EXPECT_EQ(seg->value, "3145728");
  EXPECT_EQ(seg->source, config_source::dynamic_default_broker_config);
  const auto* ac = find(all, "auto.create.topics.enable");
  ASSERT_NE(ac, nullptr);
  EXPECT_TRUE(ac->read_only);

  auto defaults = describe_default_broker_configs(b);
  ASSERT_EQ(defaults.size(), 2u) << "the default resource lists only the dynamic defaults";
  EXPECT_EQ(find(defaults, "log.retention.ms")->value, "2000");
  EXPECT_EQ(find(defaults, "log.retention.ms")->source,
            config_source::dynamic_default_broker_config);
}

TEST(dynamic_broker_config, topic_without_override_follows_and_reports_the_dynamic_default) {
  auto b = with_dynamic(broker_config{}, {{"log.retention.ms", "5000"}}, {});
  auto settings = effective_topic_settings({}, b);
  EXPECT_EQ(settings.retention_ms, 5000);
  auto described = describe_topic_configs({}, b);
  auto it = std::find_if(described.begin(), described.end(),
                         [](const auto& e) { return e.name == "retention.ms"; });
  ASSERT_NE(it, described.end());
  EXPECT_EQ(it->value, "5000");
  EXPECT_EQ(it->source, config_source::dynamic_default_broker_config);
  ASSERT_FALSE(it->synonyms.empty());
  EXPECT_EQ(it->synonyms[0].name, "log.retention.ms");
  EXPECT_EQ(it->synonyms[0].source, config_source::dynamic_default_broker_config);
  // A topic override still wins.
  EXPECT_EQ(effective_topic_settings({{"retention.ms", "9"}}, b).retention_ms, 9);
}

TEST(dynamic_broker_config, listener_key_and_trust_stores_are_dynamic_with_the_listener_prefix_only) {
  for (const char* n : {"listener.name.ssl.ssl.keystore.location", "listener.name.ssl.ssl.keystore.password",
                        "listener.name.ssl.ssl.key.password", "listener.name.ssl.ssl.keystore.type",
                        "listener.name.internal.ssl.truststore.location", "listener.name.ssl.ssl.truststore.password",
                        "listener.name.ssl.ssl.keystore.key", "listener.name.ssl.ssl.keystore.certificate.chain",
                        "listener.name.ssl.ssl.truststore.certificates"}) {
    EXPECT_TRUE(is_dynamic_broker_config(n)) << n;
    EXPECT_TRUE(is_per_broker_config(n)) << n;
  }
  for (const char* n : {"ssl.keystore.location", "listener.name.ssl.ssl.client.auth",
                        "listener.name.ssl.ssl.enabled.protocols", "listener.name.ssl.max.connections",
                        "listener.name..ssl.keystore.location"})
    EXPECT_FALSE(is_per_broker_config(n)) << n;
  EXPECT_FALSE(is_dynamic_broker_config("ssl.keystore.location"));
  EXPECT_FALSE(is_dynamic_broker_config("listener.name.ssl.ssl.client.auth"));
  EXPECT_FALSE(is_per_broker_config("log.retention.ms"));
}

TEST(dynamic_broker_config, listener_stores_are_refused_without_prefix_at_the_cluster_default_and_when_not_reconfigurable) {
  EXPECT_EQ(validate_dynamic_broker_changes({{"listener.name.ssl.ssl.keystore.location", "/k.p12"},
                                             {"listener.name.ssl.ssl.keystore.password", "pw"}},
                                            true),
            "");
  EXPECT_EQ(validate_dynamic_broker_changes({{"listener.name.ssl.ssl.keystore.location", std::nullopt}}, true), "");
  EXPECT_EQ(validate_dynamic_broker_changes({{"ssl.keystore.location", "/k.p12"}}, true),
            "These security configs can be dynamically updated only per-listener using the listener prefix: "
            "Set(ssl.keystore.location)");
  EXPECT_EQ(validate_dynamic_broker_changes({{"listener.name.ssl.ssl.keystore.location", "/k.p12"},
                                             {"log.retention.ms", "1000"}},
                                            false),
            "Cannot update these configs at default cluster level, broker id must be specified: "
            "Set(listener.name.ssl.ssl.keystore.location)");
  EXPECT_EQ(validate_dynamic_broker_changes({{"listener.name.ssl.ssl.client.auth", "required"}}, true),
            "Cannot update these configs dynamically: Set(listener.name.ssl.ssl.client.auth)");
  EXPECT_EQ(validate_dynamic_broker_changes({{"listener.name.ssl.ssl.keystore.type", "JKSX"}}, true).find(
                "Invalid value JKSX for configuration listener.name.ssl.ssl.keystore.type"),
            0u);
  EXPECT_EQ(validate_dynamic_broker_changes({{"listener.name.ssl.ssl.keystore.locatoin", "/k"}}, true),
            "Unknown broker config name: listener.name.ssl.ssl.keystore.locatoin");
}

TEST(dynamic_broker_config, dynamic_listener_store_wins_over_static_and_deleting_it_falls_back) {
  auto s = loaded(
      "listeners: SSL://:9093\nlistener.security.protocol.map: SSL:SSL\n"
      "listener.name.ssl.ssl.keystore.location: /static.p12\nssl.truststore.location: /ca.pem\n");
  auto b = with_dynamic(s, {}, {{"listener.name.ssl.ssl.keystore.location", "/dynamic.p12"},
                                {"listener.name.ssl.ssl.truststore.location", "/ca2.pem"}});
  EXPECT_EQ(listener_value(b, "SSL", "ssl.keystore.location"), "/dynamic.p12");
  EXPECT_EQ(listener_value(b, "SSL", "ssl.truststore.location"), "/ca2.pem");
  auto back = with_dynamic(s, {}, {});
  EXPECT_EQ(listener_value(back, "SSL", "ssl.keystore.location"), "/static.p12");
  EXPECT_EQ(listener_value(back, "SSL", "ssl.truststore.location"), "/ca.pem");
  // Stored at the cluster default (by another version): ignored and named, as Kafka does.
  std::vector<std::string> skipped;
  auto d = with_dynamic(s, {{"listener.name.ssl.ssl.keystore.location", "/default.p12"}}, {}, &skipped);
  EXPECT_EQ(listener_value(d, "SSL", "ssl.keystore.location"), "/static.p12");
  EXPECT_EQ(skipped, std::vector<std::string>{"listener.name.ssl.ssl.keystore.location"});
}

TEST(dynamic_broker_config, describe_shows_a_dynamic_listener_store_and_hides_its_password) {
  auto s = loaded(
      "listeners: SSL://:9093\nlistener.security.protocol.map: SSL:SSL\n"
      "listener.name.ssl.ssl.keystore.location: /static.p12\nlistener.name.ssl.ssl.keystore.password: old\n");
  auto b = with_dynamic(s, {}, {{"listener.name.ssl.ssl.keystore.location", "/dynamic.p12"},
                                {"listener.name.ssl.ssl.keystore.password", "secret"}});
  auto all = describe_broker_configs(b);
  const auto* loc = find(all, "listener.name.ssl.ssl.keystore.location");
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->value, "/dynamic.p12");
  EXPECT_EQ(loc->source, config_source::dynamic_broker_config);
  EXPECT_FALSE(loc->read_only);
  ASSERT_GE(loc->synonyms.size(), 2u);
  EXPECT_EQ(loc->synonyms[1].value, "/static.p12");
  EXPECT_EQ(loc->synonyms[1].source, config_source::static_broker_config);
  const auto* pw = find(all, "listener.name.ssl.ssl.keystore.password");
  ASSERT_NE(pw, nullptr);
  EXPECT_TRUE(pw->sensitive);
  EXPECT_TRUE(pw->is_null);
  EXPECT_EQ(pw->source, config_source::dynamic_broker_config);
  for (const auto& syn : pw->synonyms) EXPECT_TRUE(syn.is_null);
  // Back to the static value once the dynamic one is deleted.
  auto back = describe_broker_configs(with_dynamic(s, {}, {}));
  const auto* loc2 = find(back, "listener.name.ssl.ssl.keystore.location");
  ASSERT_NE(loc2, nullptr);
  EXPECT_EQ(loc2->value, "/static.p12");
  EXPECT_EQ(loc2->source, config_source::static_broker_config);
}
