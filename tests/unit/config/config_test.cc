// Proves that broker configs load from dotted or nested YAML plus --set overrides with Kafka's
// names and defaults, and that unknown names and bad values are refused with a sentence naming them.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gregor/config/broker_config.h"

using namespace gregor;
using namespace gregor::config;

namespace {

broker_config must_load(std::string_view yaml, std::vector<std::pair<std::string, std::string>> sets = {}) {
  auto r = load_yaml(yaml, "test.yaml", sets);
  EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error());
  return r.has_value() ? r.value() : broker_config{};
}

std::string load_error(std::string_view yaml, std::vector<std::pair<std::string, std::string>> sets = {}) {
  auto r = load_yaml(yaml, "gregor.yaml", sets);
  EXPECT_FALSE(r.has_value());
  return r.has_value() ? "" : r.error();
}

}  // namespace

TEST(broker_config, empty_file_gives_kafka_defaults) {
  broker_config b = must_load("");
  EXPECT_EQ(b.node_id, node_id(1));
  ASSERT_EQ(b.listeners.size(), 1u);
  EXPECT_EQ(b.listeners[0], (listener{"PLAINTEXT", "0.0.0.0", 9092}));
  ASSERT_EQ(b.advertised_listeners.size(), 1u);
  EXPECT_EQ(b.advertised_listeners[0], (listener{"PLAINTEXT", "localhost", 9092}));
  EXPECT_EQ(b.log_dirs, std::vector<std::string>{"./data"});
  EXPECT_EQ(b.num_partitions, 1);
  EXPECT_EQ(b.message_max_bytes, 1048588);
  EXPECT_EQ(b.log_segment_bytes, 1073741824);
  EXPECT_EQ(b.log_retention_ms, 604800000);
  EXPECT_EQ(b.log_roll_ms, 604800000);
  EXPECT_EQ(b.log_retention_bytes, -1);
  EXPECT_EQ(b.log_flush_interval_ms, -1);
  EXPECT_EQ(b.log_cleanup_policy, "delete");
  EXPECT_EQ(b.compression_type, "producer");
  EXPECT_EQ(b.log_message_timestamp_after_max_ms, 3600000);
  EXPECT_EQ(b.offsets_topic_num_partitions, 50);
  EXPECT_EQ(b.http_listeners, std::vector<std::string>{"http://0.0.0.0:9644"});
  EXPECT_TRUE(b.explicit_values.empty());
}

TEST(broker_config, embedded_default_loads_a_one_node_broker_on_9092) {
  auto r = load(std::nullopt, {});
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->node_id, node_id(1));
  EXPECT_EQ(r->listeners[0].port, 9092);
  EXPECT_EQ(r->log_dirs, std::vector<std::string>{"./data"});
  EXPECT_EQ(r->process_roles, (std::vector<std::string>{"broker", "controller"}));
}

TEST(broker_config, dotted_keys_are_read) {
  broker_config b = must_load(
      "node.id: 7\n"
      "log.dirs: /a, /b\n"
      "num.partitions: 3\n"
      "auto.create.topics.enable: false\n"
      "listeners: PLAINTEXT://127.0.0.1:19092,INTERNAL://:19093\n");
  EXPECT_EQ(b.node_id, node_id(7));
  EXPECT_EQ(b.log_dirs, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(b.num_partitions, 3);
  EXPECT_FALSE(b.auto_create_topics_enable);
  ASSERT_EQ(b.listeners.size(), 2u);
  EXPECT_EQ(b.listeners[1], (listener{"INTERNAL", "", 19093}));
  EXPECT_EQ(b.advertised_listeners[0], (listener{"PLAINTEXT", "127.0.0.1", 19092}));
  EXPECT_EQ(b.advertised_listeners[1], (listener{"INTERNAL", "localhost", 19093}));
  EXPECT_TRUE(b.is_set("num.partitions"));
  EXPECT_FALSE(b.is_set("message.max.bytes"));
}

TEST(broker_config, nested_keys_are_flattened_and_sequences_are_lists) {
  broker_config b = must_load(
      "log:\n"
      "  dirs: [/x, /y]\n"
      "  retention:\n"
      "    bytes: 1000\n"
      "  segment.bytes: 2097152\n"
      "num: {partitions: 4}\n");
  EXPECT_EQ(b.log_dirs, (std::vector<std::string>{"/x", "/y"}));
  EXPECT_EQ(b.log_retention_bytes, 1000);
  EXPECT_EQ(b.log_segment_bytes, 2097152);
  EXPECT_EQ(b.num_partitions, 4);
}

TEST(broker_config, set_wins_over_the_file_and_later_set_wins) {
  broker_config b = must_load("num.partitions: 3\n", {{"num.partitions", "5"}, {"log.dirs", "/s"}, {"num.partitions", "6"}});
  EXPECT_EQ(b.num_partitions, 6);
  EXPECT_EQ(b.log_dirs, std::vector<std::string>{"/s"});
  EXPECT_EQ(b.explicit_values.at("num.partitions"), "6");
}

TEST(broker_config, retention_ms_wins_over_minutes_over_hours) {
  EXPECT_EQ(must_load("log.retention.hours: 1\n").log_retention_ms, 3600000);
  EXPECT_EQ(must_load("log.retention.hours: 1\nlog.retention.minutes: 2\n").log_retention_ms, 120000);
  EXPECT_EQ(must_load("log.retention.hours: 1\nlog.retention.minutes: 2\nlog.retention.ms: 5\n").log_retention_ms, 5);
  EXPECT_EQ(must_load("log.retention.hours: -1\n").log_retention_ms, -1);
  EXPECT_EQ(must_load("log.roll.hours: 2\n").log_roll_ms, 7200000);
}

TEST(broker_config, log_dirs_wins_over_log_dir) {
  EXPECT_EQ(must_load("log.dir: /one\n").log_dirs, std::vector<std::string>{"/one"});
  EXPECT_EQ(must_load("log.dir: /one\nlog.dirs: /two\n").log_dirs, std::vector<std::string>{"/two"});
}

TEST(broker_config, broker_id_is_accepted_and_must_agree_with_node_id) {
  EXPECT_EQ(must_load("broker.id: 4\n").node_id, node_id(4));
  EXPECT_EQ(must_load("broker.id: 4\nnode.id: 4\n").node_id, node_id(4));
  EXPECT_NE(load_error("broker.id: 4\nnode.id: 5\n").find("disagree"), std::string::npos);
}

TEST(broker_config, queued_max_request_bytes_must_hold_one_largest_request_as_in_kafka) {
  EXPECT_EQ(load_error("queued.max.request.bytes: 1000\nsocket.request.max.bytes: 2000\n"),
            "config 'queued.max.request.bytes' = 1000 must be larger or equal to 'socket.request.max.bytes' = 2000");
  EXPECT_EQ(must_load("queued.max.request.bytes: 2000\nsocket.request.max.bytes: 2000\n").queued_max_request_bytes, 2000);
  EXPECT_EQ(must_load("queued.max.request.bytes: -1\n").queued_max_request_bytes, -1);
  EXPECT_EQ(must_load("socket.partial.request.timeout.ms: 1500\n").socket_partial_request_timeout_ms, 1500);
  EXPECT_EQ(must_load("").socket_partial_request_timeout_ms, 30000);
}

TEST(broker_config, fetch_memory_max_bytes_is_minus_one_or_at_least_a_kib) {
  EXPECT_EQ(must_load("").fetch_memory_max_bytes, -1);
  EXPECT_EQ(must_load("fetch.memory.max.bytes: 8388608\n").fetch_memory_max_bytes, 8388608);
  EXPECT_EQ(load_error("fetch.memory.max.bytes: 10\n"),
            "config 'fetch.memory.max.bytes' = 10 must be -1 (2 x fetch.max.bytes) or at least 1024");
}

TEST(broker_config, a_name_longer_than_any_config_gets_no_suggestion) {
  const std::string name = "log.dirs" + std::string(200, 'x');
  EXPECT_EQ(load_error(name + ": /data\n"), "unknown config '" + name + "' in gregor.yaml");
  // Near misses still get one, whatever the order of the keys tried.
  EXPECT_EQ(load_error("", {{"log.retention.hour", "3"}}),
            "unknown config 'log.retention.hour' in --set (did you mean 'log.retention.hours'?)");
}

TEST(broker_config, unknown_key_is_refused_with_did_you_mean) {
  EXPECT_EQ(load_error("log.dir.s: /data\n"), "unknown config 'log.dir.s' in gregor.yaml (did you mean 'log.dirs'?)");
  EXPECT_EQ(load_error("", {{"num.partitons", "3"}}), "unknown config 'num.partitons' in --set (did you mean 'num.partitions'?)");
  EXPECT_EQ(load_error("completely.unrelated.thing.xyz: 1\n"), "unknown config 'completely.unrelated.thing.xyz' in gregor.yaml");
}

TEST(broker_config, bad_integer_is_named_with_expected_form) {
  EXPECT_EQ(load_error("num.partitions: abc\n"), "config 'num.partitions' = 'abc': expected an integer >= 1");
  EXPECT_EQ(load_error("num.partitions: 0\n"), "config 'num.partitions' = '0': expected an integer >= 1");
  EXPECT_EQ(load_error("num.partitions: 1.5\n"), "config 'num.partitions' = '1.5': expected an integer >= 1");
  EXPECT_NE(load_error("message.max.bytes: 99999999999\n").find("'message.max.bytes'"), std::string::npos);
  EXPECT_NE(load_error("log.segment.bytes: 1000\n").find("expected an integer between 1048576 and 2147483647"), std::string::npos);
}

TEST(broker_config, bad_bool_is_named) {
  EXPECT_EQ(load_error("auto.create.topics.enable: maybe\n"),
            "config 'auto.create.topics.enable' = 'maybe': expected true or false");
  EXPECT_TRUE(must_load("delete.topic.enable: TRUE\n").delete_topic_enable);
}

TEST(broker_config, bad_listener_url_is_named) {
  std::string e = load_error("listeners: PLAINTEXT//127.0.0.1:9092\n");
  EXPECT_NE(e.find("config 'listeners' = 'PLAINTEXT//127.0.0.1:9092'"), std::string::npos) << e;
  EXPECT_NE(e.find("has no '://'"), std::string::npos) << e;
  EXPECT_NE(load_error("listeners: PLAINTEXT://host:99999\n").find("port must be"), std::string::npos);
  EXPECT_NE(load_error("listeners: PLAINTEXT://host\n").find("no ':port'"), std::string::npos);
  EXPECT_NE(load_error("listeners: A://:1,A://:2\n").find("appears twice"), std::string::npos);
}

TEST(broker_config, ipv6_listener_in_brackets_is_parsed) {
  listener l;
  EXPECT_EQ(parse_listener("PLAINTEXT://[::1]:9092", l), "");
  EXPECT_EQ(l, (listener{"PLAINTEXT", "::1", 9092}));
  EXPECT_NE(parse_listener("PLAINTEXT://::1:9092", l), "");
}

TEST(broker_config, advertised_listener_must_name_a_listener_and_a_host) {
  EXPECT_NE(load_error("advertised.listeners: OTHER://h:1\n").find("not in 'listeners'"), std::string::npos);
  EXPECT_NE(load_error("advertised.listeners: PLAINTEXT://0.0.0.0:9092\n").find("must name a host"), std::string::npos);
  broker_config b = must_load("advertised.listeners: PLAINTEXT://broker1.example:9092\n");
  EXPECT_EQ(b.advertised_listeners[0].host, "broker1.example");
}

TEST(broker_config, enumerated_strings_and_lists_are_checked) {
  EXPECT_NE(load_error("compression.type: brotli\n").find("expected one of uncompressed,zstd"), std::string::npos);
  EXPECT_NE(load_error("log.cleanup.policy: shred\n").find("compact, delete"), std::string::npos);
  EXPECT_EQ(must_load("log.cleanup.policy: [compact, delete]\n").log_cleanup_policy, "compact,delete");
  EXPECT_NE(load_error("process.roles: broker,janitor\n").find("'process.roles'"), std::string::npos);
  EXPECT_NE(load_error("log.dirs: ''\n").find("at least one"), std::string::npos);
}

TEST(broker_config, malformed_yaml_and_non_map_root_are_refused) {
  EXPECT_NE(load_error("a: [unclosed\n").find("not valid YAML"), std::string::npos);
  EXPECT_NE(load_error("- just\n- a list\n").find("expected a map"), std::string::npos);
  EXPECT_NE(load_error("log.dirs: /a\nlog: {dirs: /b}\n").find("given twice"), std::string::npos);
}

TEST(broker_config, missing_file_is_named) {
  auto r = load(std::filesystem::path("/nonexistent/gregor.yaml"), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("/nonexistent/gregor.yaml"), std::string::npos);
}

TEST(broker_config, file_is_loaded_and_named_in_errors) {
  auto dir = std::filesystem::temp_directory_path() / ("gregor_cfg_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "my.yaml") << "num.partitions: 9\nlog.retention.hourz: 1\n";
  }
  auto r = load(dir / "my.yaml", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), "unknown config 'log.retention.hourz' in my.yaml (did you mean 'log.retention.hours'?)");
  {
    std::ofstream(dir / "my.yaml") << "num.partitions: 9\n";
  }
  auto ok = load(dir / "my.yaml", {});
  ASSERT_TRUE(ok.has_value()) << ok.error();
  EXPECT_EQ(ok->num_partitions, 9);
  std::filesystem::remove_all(dir);
}

TEST(broker_config, sample_config_file_loads_cleanly) {
  const char* src = std::getenv("GREGOR_TEST_SRC");
  ASSERT_NE(src, nullptr) << "GREGOR_TEST_SRC must point at the source tree";
  auto r = load(std::filesystem::path(src) / "config" / "gregor.yaml", {});
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->node_id, node_id(1));
  EXPECT_EQ(r->listeners[0].port, 9092);
  EXPECT_EQ(r->num_partitions, 1);
  EXPECT_EQ(r->log_retention_ms, 604800000);
}

TEST(broker_config, every_key_in_the_table_round_trips_its_default) {
  // Printing a default config and loading it back must give the same printed values.
  broker_config d;
  std::vector<std::pair<std::string, std::string>> sets;
  for (const auto& e : describe_broker_configs(d))
    if (!e.is_null && !e.value.empty()) sets.emplace_back(e.name, e.value);
  auto r = load_yaml("", "x", sets);
  ASSERT_TRUE(r.has_value()) << r.error();
  for (const auto& e : describe_broker_configs(*r)) {
    auto it = std::find_if(sets.begin(), sets.end(), [&](const auto& s) { return s.first == e.name; });
    if (it != sets.end()) {
      EXPECT_EQ(e.value, it->second) << e.name;
    }
  }
}

TEST(broker_config, edit_distance_counts_single_edits) {
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("log.dirs", "log.dirs"), 0u);
  EXPECT_EQ(edit_distance("log.dir.s", "log.dirs"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(broker_config, set_argument_splits_at_the_first_equals_sign) {
  auto r = parse_set_arg("log.dirs=/a=b");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, "log.dirs");
  EXPECT_EQ(r->second, "/a=b");
  EXPECT_FALSE(parse_set_arg("log.dirs").has_value());
  EXPECT_FALSE(parse_set_arg("=5").has_value());
  EXPECT_EQ(parse_set_arg("x=")->second, "");
}

TEST(broker_config, http_listeners_must_be_http_urls) {
  EXPECT_NE(load_error("http.listeners: ftp://0.0.0.0:1\n").find("'http.listeners'"), std::string::npos);
  EXPECT_NE(load_error("http.listeners: localhost:9644\n").find("'http.listeners'"), std::string::npos);
  EXPECT_EQ(must_load("http.listeners: http://127.0.0.1:9000\n").http_listeners,
            std::vector<std::string>{"http://127.0.0.1:9000"});
  EXPECT_TRUE(must_load("http.listeners: ''\n").http_listeners.empty());
}

// ---- cluster roles and the controller quorum (Kafka's KRaft rules) ----
namespace gregor::config {
namespace {

const std::vector<std::pair<std::string, std::string>> combined_node_2 = {
    {"process.roles", "broker,controller"},
    {"node.id", "2"},
    {"controller.quorum.voters", "1@127.0.0.1:9101,2@127.0.0.1:9102,3@[::1]:9103"},
    {"listeners", "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9102"},
    {"advertised.listeners", "PLAINTEXT://127.0.0.1:9092"},
    {"controller.listener.names", "CONTROLLER"},
    {"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"},
    {"inter.broker.listener.name", "PLAINTEXT"},
};

std::vector<std::pair<std::string, std::string>> with(std::vector<std::pair<std::string, std::string>> sets,
                                                      std::string key, std::string value) {
  for (auto& [k, v] : sets)
    if (k == key) {
      v = std::move(value);
      return sets;
    }
  sets.emplace_back(std::move(key), std::move(value));
  return sets;
}

TEST(cluster_config, a_combined_node_of_a_three_voter_quorum_loads_with_its_voters_parsed) {
  broker_config b = must_load("", combined_node_2);
  EXPECT_TRUE(b.is_broker());
  EXPECT_TRUE(b.is_controller());
  ASSERT_EQ(b.quorum_voters.size(), 3u);
  EXPECT_EQ(b.quorum_voters[0], (quorum_voter{node_id(1), "127.0.0.1", 9101}));
  EXPECT_EQ(b.quorum_voters[2], (quorum_voter{node_id(3), "::1", 9103}));
  EXPECT_EQ(b.inter_broker_listener(), "PLAINTEXT");
  EXPECT_EQ(b.controller_quorum_election_timeout_ms, 1000);
  EXPECT_EQ(b.broker_session_timeout_ms, 9000);
}

TEST(cluster_config, the_embedded_default_is_a_single_voter_combined_node) {
  broker_config b = must_load("");
  EXPECT_TRUE(b.is_broker());
  EXPECT_TRUE(b.is_controller());
  EXPECT_TRUE(b.quorum_voters.empty());
}

TEST(cluster_config, bad_quorum_settings_are_refused_with_the_key_named) {
  EXPECT_NE(load_error("", with(combined_node_2, "process.roles", "broker,zookeeper")).find("process.roles"),
            std::string::npos);
  EXPECT_NE(load_error("", with(combined_node_2, "controller.quorum.voters", "1@h:1,x@h:2")).find("controller.quorum.voters"),
            std::string::npos);
  EXPECT_NE(load_error("", with(combined_node_2, "controller.quorum.voters", "1@h:1,1@h:2")).find("twice"),
            std::string::npos);
  // A controller must be one of the voters.
  EXPECT_NE(load_error("", with(combined_node_2, "node.id", "4")).find("must contain node.id 4"), std::string::npos);
  // A broker-only node needs the quorum and must not listen on the controller listener.
  auto broker_only = with(combined_node_2, "process.roles", "broker");
  EXPECT_NE(load_error("", broker_only).find("must not be in 'listeners'"), std::string::npos);
  EXPECT_NE(load_error("", {{"process.roles", "broker"}}).find("controller.quorum.voters"), std::string::npos);
  EXPECT_NE(load_error("", with(combined_node_2, "inter.broker.listener.name", "NOPE")).find("inter.broker.listener.name"),
            std::string::npos);
  EXPECT_NE(load_error("", with(combined_node_2, "listener.security.protocol.map", "PLAINTEXT:SSL,CONTROLLER:PLAINTEXT"))
                .find("SSL"),
            std::string::npos);
}

}  // namespace
}  // namespace gregor::config

namespace gregor::config {
namespace {

TEST(ssl_config, an_ssl_listener_needs_a_key_store_named_in_the_error) {
  const std::vector<std::pair<std::string, std::string>> ssl_listener{
      {"listeners", "SSL://127.0.0.1:9093"}, {"advertised.listeners", "SSL://127.0.0.1:9093"},
      {"listener.security.protocol.map", "SSL:SSL"}, {"inter.broker.listener.name", "SSL"}};
  EXPECT_NE(load_error("", ssl_listener).find("ssl.keystore.location"), std::string::npos);

  auto with_store = ssl_listener;
  with_store.emplace_back("listener.name.ssl.ssl.keystore.location", "/etc/gregor/broker.p12");
  with_store.emplace_back("ssl.keystore.password", "secret");
  with_store.emplace_back("ssl.client.auth", "required");
  broker_config b = must_load("", with_store);
  EXPECT_EQ(listener_value(b, "SSL", "ssl.keystore.location"), "/etc/gregor/broker.p12");
  EXPECT_EQ(listener_value(b, "SSL", "ssl.client.auth"), "required");

  // Passwords are sensitive: DescribeConfigs reports them as null.
  for (const auto& e : describe_broker_configs(b)) {
    if (e.name == "ssl.keystore.password" || e.name == "ssl.keystore.key") {
      EXPECT_TRUE(e.sensitive) << e.name;
      EXPECT_TRUE(e.is_null) << e.name;
      EXPECT_TRUE(e.value.empty()) << e.name;
      for (const auto& syn : e.synonyms) EXPECT_TRUE(syn.is_null) << e.name;
    }
    if (e.name == "ssl.client.auth") {
      EXPECT_FALSE(e.sensitive);
      EXPECT_EQ(e.value, "required");
    }
    if (e.name == "ssl.enabled.protocols") {
      EXPECT_EQ(e.value, "TLSv1.2,TLSv1.3");
    }
  }

  auto jks = with_store;
  jks.emplace_back("ssl.keystore.type", "JKS");
  EXPECT_NE(load_error("", jks).find("JKS is not supported"), std::string::npos);
  auto inline_key_only = ssl_listener;
  inline_key_only.emplace_back("ssl.keystore.key", "-----BEGIN PRIVATE KEY-----");
  EXPECT_NE(load_error("", inline_key_only).find("ssl.keystore.certificate.chain"), std::string::npos);
}

TEST(ssl_config, bad_ssl_values_are_refused_with_the_key_named) {
  EXPECT_NE(load_error("", {{"ssl.client.auth", "always"}}).find("ssl.client.auth"), std::string::npos);
  EXPECT_NE(load_error("", {{"ssl.enabled.protocols", "TLSv1.2,SSLv3"}}).find("ssl.enabled.protocols"),
            std::string::npos);
  EXPECT_NE(load_error("", {{"listener.name.ssl.ssl.client.auth", "sometimes"}}).find("listener.name.ssl.ssl.client.auth"),
            std::string::npos);
  // Stored as text for the principal builder.
  broker_config b = must_load("", {{"ssl.principal.mapping.rules", "RULE:^CN=(.*?),.*$/$1/,DEFAULT"}});
  EXPECT_EQ(listener_value(b, "SSL", "ssl.principal.mapping.rules"), "RULE:^CN=(.*?),.*$/$1/,DEFAULT");
}

}  // namespace
}  // namespace gregor::config

// SASL listeners, Kafka's listener-prefixed keys and the authorizer selection.
TEST(sasl_config, a_sasl_listener_takes_its_mechanisms_and_jaas_config_from_listener_prefixed_keys) {
  const std::string jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"x\";";
  broker_config b = must_load("", {{"listeners", "PLAINTEXT://:9092,SASL_PLAINTEXT://:9093"},
                                   {"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"},
                                   {"listener.name.sasl_plaintext.sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"},
                                   {"listener.name.sasl_plaintext.plain.sasl.jaas.config", jaas}});
  EXPECT_EQ(security_protocol_of(b, "SASL_PLAINTEXT"), "SASL_PLAINTEXT");
  EXPECT_EQ(security_protocol_of(b, "PLAINTEXT"), "PLAINTEXT");
  EXPECT_EQ(listener_sasl_mechanisms(b, "SASL_PLAINTEXT"), (std::vector<std::string>{"PLAIN", "SCRAM-SHA-512"}));
  EXPECT_EQ(listener_sasl_mechanisms(b, "PLAINTEXT"), std::vector<std::string>{"GSSAPI"});  // Kafka's default
  EXPECT_EQ(listener_value(b, "SASL_PLAINTEXT", "plain.sasl.jaas.config"), jaas);
  EXPECT_EQ(listener_value(b, "PLAINTEXT", "plain.sasl.jaas.config"), std::nullopt);
}

TEST(sasl_config, bad_sasl_settings_are_refused_with_the_key_named) {
  const std::vector<std::pair<std::string, std::string>> sasl_listener = {
      {"listeners", "SASL_PLAINTEXT://:9093"}, {"listener.security.protocol.map", "SASL_PLAINTEXT:SASL_PLAINTEXT"}};
  auto with = [&](std::vector<std::pair<std::string, std::string>> more) {
    auto sets = sasl_listener;
    sets.insert(sets.end(), more.begin(), more.end());
    return sets;
  };
  // Kafka's default mechanism (GSSAPI) is not served.
  EXPECT_NE(load_error("", with({})).find("'sasl.enabled.mechanisms'"), std::string::npos);
  EXPECT_NE(load_error("", with({{"sasl.enabled.mechanisms", "PLAIN"}})).find("listener.name.sasl_plaintext.plain.sasl.jaas.config"),
            std::string::npos);
  EXPECT_NE(load_error("", with({{"listener.name.SASL_PLAINTEXT.sasl.enabled.mechanisms", "PLAIN"}})).find("lower case"),
            std::string::npos);
  EXPECT_NE(load_error("", with({{"listener.name.sasl_plaintext.log.retention.ms", "1"}})).find("cannot be set per listener"),
            std::string::npos);
  EXPECT_NE(load_error("", with({{"listener.name.sasl_plaintext.kerberos5.sasl.jaas.config", "x"}}))
                .find("unknown SASL mechanism 'kerberos5'"),
            std::string::npos);
  EXPECT_NE(load_error("", {{"listener.security.protocol.map", "PLAINTEXT:TLS"}}).find("'TLS' is not a security protocol"),
            std::string::npos);
  EXPECT_NE(load_error("", {{"authorizer.class.name", "kafka.security.authorizer.AclAuthorizer"}})
                .find("'authorizer.class.name'"),
            std::string::npos);
  must_load("", {{"authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"},
                 {"super.users", "User:admin;User:broker"}});
}

TEST(sasl_config, oauthbearer_keys_are_kafkas_and_validated_with_the_key_named) {
  const std::string handler = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
  const std::vector<std::pair<std::string, std::string>> oauth_listener = {
      {"listeners", "SASL_PLAINTEXT://:9093"},
      {"listener.security.protocol.map", "SASL_PLAINTEXT:SASL_PLAINTEXT"},
      {"sasl.enabled.mechanisms", "OAUTHBEARER"},
      {"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
       "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;"}};
  auto with = [&](std::vector<std::pair<std::string, std::string>> more) {
    auto sets = oauth_listener;
    sets.insert(sets.end(), more.begin(), more.end());
    return sets;
  };
  broker_config b = must_load("", with({{"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class", handler},
                                        {"listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.url", "file:///k.json"},
                                        {"sasl.oauthbearer.expected.audience", "a,b"},
                                        {"sasl.oauthbearer.clock.skew.seconds", "5"}}));
  EXPECT_EQ(listener_value(b, "SASL_PLAINTEXT", "sasl.oauthbearer.jwks.endpoint.url"), "file:///k.json");
  EXPECT_EQ(listener_value(b, "SASL_PLAINTEXT", "sasl.oauthbearer.expected.audience"), "a,b");
  // Kafka's default validator (none configured) is the unsecured one: refused, naming the key.
  EXPECT_NE(load_error("", with({})).find("listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class"),
            std::string::npos);
  EXPECT_NE(load_error("", with({{"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class",
                                  "org.apache.kafka.common.security.oauthbearer.internals.unsecured."
                                  "OAuthBearerUnsecuredValidatorCallbackHandler"}}))
                .find("listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class"),
            std::string::npos);
  EXPECT_NE(load_error("", with({{"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class", handler},
                                 {"sasl.oauthbearer.clock.skew.seconds", "-1"}}))
                .find("'sasl.oauthbearer.clock.skew.seconds'"),
            std::string::npos);
  EXPECT_NE(load_error("", with({{"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class", handler},
                                 {"listener.name.sasl_plaintext.sasl.oauthbearer.clock.skew.seconds", "x"}}))
                .find("listener.name.sasl_plaintext.sasl.oauthbearer.clock.skew.seconds"),
            std::string::npos);
}
