// Proves the rule that keeps "answer from memory first" fair (src/server/fetch_deferrals.h): a
// partition left out of a consumer's fetch at an offset is read by the next fetch at that offset,
// other consumers' fetches at other offsets do not reset that, and the memory is bounded.
#include <gtest/gtest.h>

#include "../../../src/server/fetch_deferrals.h"

namespace gregor::server {
namespace {

const topic_partition p0{"t", partition_id{0}};
const topic_partition p1{"t", partition_id{1}};

TEST(fetch_deferrals, a_partition_left_out_at_an_offset_is_read_by_the_next_fetch_there) {
  fetch_deferrals d;
  EXPECT_TRUE(d.may_defer(p1, 100));
  d.deferred(p1, 100);
  EXPECT_FALSE(d.may_defer(p1, 100));  // the client asks again at the same offset: read it
  d.read(p1, 100);
  EXPECT_TRUE(d.may_defer(p1, 100));  // settled: a later fetch there may leave it out again
  EXPECT_EQ(d.size(), 0u);
}

TEST(fetch_deferrals, other_offsets_and_partitions_are_separate) {
  fetch_deferrals d;
  d.deferred(p1, 100);
  EXPECT_TRUE(d.may_defer(p1, 200));  // another consumer further on
  EXPECT_TRUE(d.may_defer(p0, 100));
  d.deferred(p1, 200);
  d.read(p1, 200);                     // that consumer's read does not settle the first one's
  EXPECT_FALSE(d.may_defer(p1, 100));
  d.read(p0, 100);
  EXPECT_FALSE(d.may_defer(p1, 100));
}

TEST(fetch_deferrals, past_the_bound_it_forgets_everything) {
  fetch_deferrals d(3);
  d.deferred(p0, 1);
  d.deferred(p0, 2);
  d.deferred(p0, 3);
  EXPECT_EQ(d.size(), 3u);
  d.deferred(p0, 4);  // full: the three pairs go, the new one stays
  EXPECT_EQ(d.size(), 1u);
  EXPECT_TRUE(d.may_defer(p0, 1));
  EXPECT_FALSE(d.may_defer(p0, 4));
}

}  // namespace
}  // namespace gregor::server
