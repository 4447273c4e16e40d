// The controller's AlterClientQuotas decisions (Kafka's ClientQuotaControlManager): records only
// for values that change, removals only of keys that are set, Kafka's validation and messages per
// entity, duplicates, and validate_only writing nothing.
#include <gtest/gtest.h>

#include "gregor/controller/quorum_controller.h"

namespace gregor::controller {
namespace {

using alteration = quorum_controller::quota_alteration;
using op = quorum_controller::quota_op;

struct quota_fixture : ::testing::Test {
  quorum_controller qc{quorum_controller_settings{}};
  quota_fixture() { qc.activate(metadata_image{}, 0); }
  std::string error_of(const alteration& a) {
    auto d = qc.alter_client_quotas({a}, false);
    EXPECT_EQ(d.reply.size(), 1u);
    EXPECT_TRUE(d.records.empty());
    return d.reply.empty() || !d.reply[0].error ? "" : d.reply[0].error->message;
  }
};

TEST_F(quota_fixture, sets_changes_and_removes_quotas_with_one_record_per_change) {
  auto d = qc.alter_client_quotas({{{{"client-id", "app"}}, {op{"producer_byte_rate", 1024}}},
                                   {{{"user", std::nullopt}}, {op{"consumer_byte_rate", 2048}, op{"request_percentage", 50.5}}}},
                                  false);
  ASSERT_EQ(d.reply.size(), 2u);
  EXPECT_FALSE(d.reply[0].error);
  EXPECT_FALSE(d.reply[1].error);
  EXPECT_EQ(d.records.size(), 3u);
  const quota_entity app{{"client-id", "app"}};
  const quota_entity default_user{{"user", std::nullopt}};
  EXPECT_EQ(qc.image().client_quotas().at(app).at("producer_byte_rate"), 1024);
  EXPECT_EQ(qc.image().client_quotas().at(default_user).at("request_percentage"), 50.5);

  // The same value again writes nothing; removing an unset key writes nothing.
  auto same = qc.alter_client_quotas({{{{"client-id", "app"}}, {op{"producer_byte_rate", 1024}, op{"consumer_byte_rate", 0, true}}}}, false);
  EXPECT_TRUE(same.records.empty());
  EXPECT_FALSE(same.reply[0].error);

  auto removed = qc.alter_client_quotas({{{{"client-id", "app"}}, {op{"producer_byte_rate", 0, true}}}}, false);
  EXPECT_EQ(removed.records.size(), 1u);
  EXPECT_FALSE(qc.image().client_quotas().contains(app));
}

TEST_F(quota_fixture, user_and_client_id_together_are_one_entity) {
  auto d = qc.alter_client_quotas({{{{"user", "alice"}, {"client-id", std::nullopt}}, {op{"producer_byte_rate", 10}}}}, false);
  ASSERT_FALSE(d.reply[0].error);
  const quota_entity e{{"client-id", std::nullopt}, {"user", "alice"}};
  EXPECT_EQ(d.reply[0].entity, e);
  EXPECT_EQ(qc.image().client_quotas().at(e).at("producer_byte_rate"), 10);
}

TEST_F(quota_fixture, refuses_what_kafka_refuses_with_its_messages) {
  EXPECT_EQ(error_of({{}, {op{"producer_byte_rate", 1}}}), "Invalid empty client quota entity");
  EXPECT_EQ(error_of({{{"group", "g"}}, {op{"producer_byte_rate", 1}}}), "Unhandled client quota entity type: group");
  EXPECT_EQ(error_of({{{"user", ""}}, {op{"producer_byte_rate", 1}}}), "Empty user not supported");
  EXPECT_EQ(error_of({{{"ip", "10.0.0.1"}, {"user", "u"}}, {op{"connection_creation_rate", 1}}}),
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId");
  EXPECT_EQ(error_of({{{"ip", "not-an-ip!"}}, {op{"connection_creation_rate", 1}}}),
            "not-an-ip! is not a valid IP or resolvable host.");
  EXPECT_EQ(error_of({{{"client-id", "c"}}, {op{"connection_creation_rate", 1}}}),
            "Invalid configuration key connection_creation_rate");
  EXPECT_EQ(error_of({{{"ip", "10.0.0.1"}}, {op{"producer_byte_rate", 1}}}), "Invalid configuration key producer_byte_rate");
  EXPECT_EQ(error_of({{{"client-id", "c"}}, {op{"producer_byte_rate", 0}}}), "Quota producer_byte_rate must be greater than 0");
  EXPECT_EQ(error_of({{{"client-id", "c"}}, {op{"producer_byte_rate", 1.5}}}),
            "producer_byte_rate cannot be a fractional value.");
  EXPECT_EQ(error_of({{{"ip", "::1"}}, {op{"connection_creation_rate", 3e9}}}),
            "Proposed value for connection_creation_rate is too large for an INT.");
  EXPECT_EQ(error_of({{{"client-id", "c"}}, {op{"producer_byte_rate", 1}, op{"producer_byte_rate", 2}}}),
            "Ignoring duplicate entity ClientQuotaEntity(entries={client-id=c})");
  EXPECT_TRUE(qc.image().client_quotas().empty());
}

TEST_F(quota_fixture, a_failed_entity_writes_nothing_and_the_others_are_written) {
  auto d = qc.alter_client_quotas({{{{"client-id", "bad"}}, {op{"producer_byte_rate", 5}, op{"nonsense", 1}}},
                                   {{{"client-id", "good"}}, {op{"producer_byte_rate", 5}}}},
                                  false);
  ASSERT_EQ(d.reply.size(), 2u);
  EXPECT_TRUE(d.reply[0].error);
  EXPECT_FALSE(d.reply[1].error);
  EXPECT_EQ(d.records.size(), 1u);
  EXPECT_FALSE(qc.image().client_quotas().contains(quota_entity{{"client-id", "bad"}}));
}

TEST_F(quota_fixture, an_entity_twice_in_one_request_is_answered_once_as_a_duplicate) {
  auto d = qc.alter_client_quotas({{{{"client-id", "c"}}, {op{"producer_byte_rate", 5}}},
                                   {{{"client-id", "c"}}, {op{"consumer_byte_rate", 5}}}},
                                  false);
  ASSERT_EQ(d.reply.size(), 1u);
  ASSERT_TRUE(d.reply[0].error);
  EXPECT_EQ(d.reply[0].error->message, "Ignoring duplicate entity ClientQuotaEntity(entries={client-id=c})");
}

TEST_F(quota_fixture, validate_only_answers_without_records) {
  auto d = qc.alter_client_quotas({{{{"ip", std::nullopt}}, {op{"connection_creation_rate", 10}}},
                                   {{{"ip", "2001:db8::1"}}, {op{"connection_creation_rate", 10}}}},
                                  true);
  ASSERT_EQ(d.reply.size(), 2u);
  EXPECT_FALSE(d.reply[0].error);
  EXPECT_FALSE(d.reply[1].error);
  EXPECT_TRUE(d.records.empty());
  EXPECT_TRUE(qc.image().client_quotas().empty());
}

}  // namespace
}  // namespace gregor::controller
