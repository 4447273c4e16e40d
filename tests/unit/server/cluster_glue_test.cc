// Proves the three rules of the cluster glue that keep acknowledged writes (the cluster
// simulation, tests/unit/cluster_sim, runs the same rules and found what breaks without them):
//   - a restarted broker publishes its metadata image only once it applied its own registration
//     record (caught_up_with_registration, used by core::apply_metadata);
//   - a leader keeps its pending ISR and sends AlterPartition again until the answer is
//     definitive (after_alter_partition, used by replica_manager::alter_isr);
//   - the active controller answers a decision without records only once every proposal made
//     before it committed, and never if one of them failed or the term ended (proposal_barrier,
//     used by active_controller::commit).
#include <gtest/gtest.h>

#include "../../../src/server/cluster_rules.h"
#include "../../../src/server/proposal_barrier.h"

namespace gregor::server {
namespace {

using protocol::error_code;
using state = proposal_barrier::state;

TEST(metadata_catch_up, nothing_is_published_before_the_broker_registered) {
  EXPECT_FALSE(caught_up_with_registration(-1, offset(0)));
  EXPECT_FALSE(caught_up_with_registration(-1, offset(5000)));  // a long old log replayed
}

TEST(metadata_catch_up, published_only_once_the_registration_record_is_applied) {
  // The broker epoch is the offset of the RegisterBrokerRecord; applied_end is one past the last
  // applied offset. A restarted broker replaying its old log (applied below its new
  // registration) acts on nothing.
  EXPECT_FALSE(caught_up_with_registration(120, offset(0)));
  EXPECT_FALSE(caught_up_with_registration(120, offset(100)));
  EXPECT_FALSE(caught_up_with_registration(120, offset(120)));  // the record at 120 not yet applied
  EXPECT_TRUE(caught_up_with_registration(120, offset(121)));
  EXPECT_TRUE(caught_up_with_registration(120, offset(400)));
}

TEST(alter_partition_retry, success_keeps_the_pending_isr_until_the_metadata_shows_it) {
  EXPECT_EQ(after_alter_partition(error_code::none), alter_partition_next::done);
}

TEST(alter_partition_retry, unknown_outcomes_send_the_same_request_again) {
  // The controller may have committed the change: dropping the pending ISR would let the high
  // watermark pass a new member before the metadata says whether it is in the ISR.
  for (auto e : {error_code::not_controller, error_code::request_timed_out, error_code::network_exception,
                 error_code::unknown_server_error, error_code::stale_broker_epoch})
    EXPECT_EQ(after_alter_partition(e), alter_partition_next::retry) << protocol::error_name(e);
}

TEST(alter_partition_retry, answers_that_the_partition_moved_on_wait_for_the_metadata) {
  // The metadata will show a newer partition or leader epoch, which ends the pending ISR; until
  // then the leader keeps it (and asks again, harmlessly).
  for (auto e : {error_code::fenced_leader_epoch, error_code::invalid_update_version, error_code::new_leader_elected,
                 error_code::unknown_topic_or_partition, error_code::unknown_topic_id})
    EXPECT_EQ(after_alter_partition(e), alter_partition_next::retry) << protocol::error_name(e);
}

TEST(alter_partition_retry, only_a_change_proven_not_applied_drops_the_pending_isr) {
  for (auto e : {error_code::ineligible_replica, error_code::operation_not_attempted, error_code::invalid_request})
    EXPECT_EQ(after_alter_partition(e), alter_partition_next::drop_pending) << protocol::error_name(e);
}

TEST(proposal_barrier, an_answer_without_records_is_at_once_when_nothing_is_in_flight) {
  proposal_barrier b;
  EXPECT_EQ(b.check(b.mark()), state::ready);
  auto t = b.begin();
  b.end(t, true);
  EXPECT_EQ(b.in_flight(), 0u);
  EXPECT_EQ(b.check(b.mark()), state::ready);
}

TEST(proposal_barrier, an_answer_waits_for_every_proposal_made_before_it) {
  proposal_barrier b;
  auto t1 = b.begin();  // e.g. CreateTopics t
  auto t2 = b.begin();
  auto m = b.mark();    // a retry: TOPIC_ALREADY_EXISTS from the speculative image
  EXPECT_EQ(b.check(m), state::wait);
  b.end(t1, true);
  EXPECT_EQ(b.check(m), state::wait);
  auto t3 = b.begin();  // proposed after the answer was decided: not waited for
  b.end(t2, true);
  EXPECT_EQ(b.check(m), state::ready);
  EXPECT_EQ(b.in_flight(), 1u);
  b.end(t3, true);
  EXPECT_EQ(b.check(m), state::ready);
}

TEST(proposal_barrier, an_answer_fails_when_a_proposal_before_it_fails) {
  proposal_barrier b;
  auto t1 = b.begin();
  auto m = b.mark();
  b.end(t1, false);  // the creation the answer saw never commits (a failover dropped it)
  EXPECT_EQ(b.check(m), state::failed);
}

TEST(proposal_barrier, after_a_failed_proposal_nothing_is_answered_until_the_controller_starts_again) {
  // The failed proposal's records stay in the speculative image: a TOPIC_ALREADY_EXISTS read from
  // it later, with nothing in flight, would name a topic that never commits (cluster_sim seed
  // 3249 when the failure only counted for answers already waiting).
  proposal_barrier b;
  auto t1 = b.begin();
  b.end(t1, false);
  EXPECT_EQ(b.in_flight(), 0u);
  EXPECT_EQ(b.check(b.mark()), state::failed);
  b.reset();  // re-activated from the committed image
  EXPECT_EQ(b.check(b.mark()), state::ready);
}

TEST(proposal_barrier, the_end_of_the_controller_term_fails_waiting_answers) {
  proposal_barrier b;
  auto t1 = b.begin();
  auto m = b.mark();
  b.reset();  // deactivate (leadership lost) or re-activation from the committed image
  EXPECT_EQ(b.check(m), state::failed);
  b.end(t1, true);  // even if the proposal commits after all: the answer was for the old term
  EXPECT_EQ(b.check(m), state::failed);
  EXPECT_EQ(b.check(b.mark()), state::ready);
}

}  // namespace
}  // namespace gregor::server
