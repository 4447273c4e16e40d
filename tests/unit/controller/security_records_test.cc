// The security state in the metadata image (SCRAM credentials, ACLs, client quotas) and the
// controller's decisions about it: CreateAcls keeps one copy of a binding, DeleteAcls removes what
// its filters match (once, reported per filter), AlterUserScramCredentials sets and deletes, and a
// snapshot (to_records) rebuilds the same image.
#include <gtest/gtest.h>

#include "gregor/controller/quorum_controller.h"

namespace gregor::controller {
namespace {

acl_entry acl(std::string name, std::string principal, int8_t op, int8_t permission = 3) {
  return acl_entry{uuid{}, 2, std::move(name), 3, std::move(principal), "*", op, permission};
}

struct security_fixture : ::testing::Test {
  quorum_controller qc{quorum_controller_settings{}};
  uint64_t next = 1;
  std::function<uuid()> ids = [this] { return uuid{0, next++}; };
  security_fixture() { qc.activate(metadata_image{}, 0); }
};

TEST_F(security_fixture, create_acls_keeps_one_copy_of_a_binding) {
  auto d = qc.create_acls({acl("t", "User:alice", 3), acl("t", "User:alice", 3), acl("t", "User:bob", 4)}, ids);
  EXPECT_EQ(d.records.size(), 2u);
  EXPECT_EQ(qc.image().acls().size(), 2u);
  auto again = qc.create_acls({acl("t", "User:alice", 3)}, ids);
  EXPECT_TRUE(again.records.empty());
  EXPECT_EQ(qc.image().acls().size(), 2u);
}

TEST_F(security_fixture, delete_acls_removes_each_match_once_and_reports_it_per_filter) {
  qc.create_acls({acl("t", "User:alice", 3), acl("t", "User:bob", 4), acl("u", "User:bob", 4)}, ids);
  const auto version = qc.image().acl_version();
  std::function<bool(const acl_entry&)> bob = [](const acl_entry& a) { return a.principal == "User:bob"; };
  std::function<bool(const acl_entry&)> on_t = [](const acl_entry& a) { return a.resource_name == "t"; };
  auto d = qc.delete_acls({bob, on_t});
  ASSERT_EQ(d.reply.size(), 2u);
  EXPECT_EQ(d.reply[0].size(), 2u);  // bob on t and u
  EXPECT_EQ(d.reply[1].size(), 2u);  // alice and bob on t
  EXPECT_EQ(d.records.size(), 3u);   // bob-on-t removed once
  EXPECT_TRUE(qc.image().acls().empty());
  EXPECT_GT(qc.image().acl_version(), version);
}

TEST_F(security_fixture, scram_credentials_are_set_and_deleted_and_a_missing_one_is_not_found) {
  scram_credential_entry cred{{1, 2}, {3, 4}, {5, 6}, 4096};
  auto d = qc.alter_scram_credentials({{"bob", 1, cred}, {"bob", 2, cred}});
  EXPECT_EQ(d.records.size(), 2u);
  EXPECT_FALSE(d.reply[0] || d.reply[1]);
  ASSERT_EQ(qc.image().scram_credentials().at("bob").size(), 2u);
  EXPECT_EQ(qc.image().scram_credentials().at("bob").at(1), cred);
  auto del = qc.alter_scram_credentials({{"bob", 1, std::nullopt}, {"carol", 1, std::nullopt}});
  EXPECT_FALSE(del.reply[0]);
  ASSERT_TRUE(del.reply[1]);
  EXPECT_EQ(del.reply[1]->code, controller_errc::resource_not_found);
  EXPECT_EQ(del.records.size(), 1u);
  EXPECT_EQ(qc.image().scram_credentials().at("bob").count(1), 0u);
}

TEST_F(security_fixture, a_snapshot_rebuilds_credentials_acls_and_quotas) {
  qc.create_acls({acl("t", "User:alice", 3), acl("pre", "User:*", 4, 2)}, ids);
  qc.alter_scram_credentials({{"bob", 2, scram_credential_entry{{9}, {8}, {7}, 8192}}});
  metadata_image image = qc.image();
  protocol::metadata::client_quota_record q;
  q.entity.emplace_back();
  q.entity[0].entity_type = "user";
  q.entity[0].entity_name = "bob";
  q.key = "producer_byte_rate";
  q.value = 1024.0;
  ASSERT_EQ(image.apply(q), "");
  metadata_image copy;
  for (const auto& r : image.to_records()) ASSERT_EQ(copy.apply(r.message), "");
  EXPECT_EQ(copy.acls(), image.acls());
  EXPECT_EQ(copy.scram_credentials(), image.scram_credentials());
  EXPECT_EQ(copy.client_quotas(), image.client_quotas());
  ASSERT_EQ(copy.client_quotas().size(), 1u);
  q.remove = true;
  ASSERT_EQ(copy.apply(q), "");
  EXPECT_TRUE(copy.client_quotas().empty());
}

}  // namespace
}  // namespace gregor::controller
