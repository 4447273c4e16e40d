// Proves gregor::regex: RE2 syntax with leftmost-first matches and captures, clear errors for
// what it refuses, no stack or time blow-up on hostile patterns and texts, and, on random small
// patterns, the same matches as std::regex where the two grammars agree (seeded; a failure prints
// the seed, GREGOR_REGEX_SEED=<seed> replays it).
#include "gregor/base/regex.h"

#include <chrono>
#include <cstdlib>
#include <random>
#include <regex>
#include <string>

#include <gtest/gtest.h>

namespace gregor {
namespace {

regex re(std::string_view p) {
  auto r = regex::compile(p);
  EXPECT_TRUE(r) << p << ": " << (r ? "" : r.error());
  if (!r) return *regex::compile("");
  return std::move(*r);
}

std::string error_of(std::string_view p) {
  auto r = regex::compile(p);
  return r ? std::string("<compiled>") : r.error();
}

// Group g of the first match in text, "<none>" when no match, "<unset>" when g took no part.
std::string group(std::string_view p, std::string_view text, size_t g = 0, size_t from = 0) {
  auto m = re(p).search(text, from);
  if (!m) return "<none>";
  if (!(*m)[g].matched()) return "<unset>";
  return std::string(text.substr((*m)[g].begin, (*m)[g].end - (*m)[g].begin));
}

TEST(regex, full_match_needs_the_whole_text) {
  EXPECT_TRUE(re("orders-.*").full_match("orders-eu"));
  EXPECT_FALSE(re("orders").full_match("orders-eu"));
  EXPECT_FALSE(re("eu").full_match("orders-eu"));
  EXPECT_TRUE(re("").full_match(""));
  EXPECT_FALSE(re("").full_match("a"));
  EXPECT_TRUE(re("a|ab").full_match("ab"));  // an alternative that stops short is not the answer
  EXPECT_TRUE(re("(a|ab)(c|bcd)").full_match("abcd"));
  EXPECT_TRUE(re("topic[0-9]+").full_match("topic42"));
  EXPECT_FALSE(re("topic[0-9]+").full_match("topic"));
  EXPECT_TRUE(re("x{2,3}").full_match("xxx"));
  EXPECT_FALSE(re("x{2,3}").full_match("xxxx"));
  EXPECT_TRUE(re("x{2,}").full_match("xxxxxx"));
  EXPECT_FALSE(re("x{2,}").full_match("x"));
  EXPECT_TRUE(re("x{3}").full_match("xxx"));
  EXPECT_TRUE(re("a{,2}").full_match("a{,2}"));  // a brace that starts no repetition is itself
  EXPECT_TRUE(re("a{").full_match("a{"));
}

TEST(regex, leftmost_first_with_greedy_and_lazy_repetitions) {
  EXPECT_EQ(group("a+", "baaab"), "aaa");
  EXPECT_EQ(group("a+?", "baaab"), "a");
  EXPECT_EQ(group("<.*>", "<a><b>"), "<a><b>");
  EXPECT_EQ(group("<.*?>", "<a><b>"), "<a>");
  EXPECT_EQ(group("a|ab", "ab"), "a");
  EXPECT_EQ(group("ab|a", "ab"), "ab");
  EXPECT_EQ(group("(a*)(a*)", "aaa", 1), "aaa");
  EXPECT_EQ(group("(a*?)(a*)", "aaa", 1), "");
  EXPECT_EQ(group("(a*?)(a*)", "aaa", 2), "aaa");
  EXPECT_EQ(group("(a)|(b)", "b", 1), "<unset>");
  EXPECT_EQ(group("(a)|(b)", "b", 2), "b");
  EXPECT_EQ(group("(?:(a)|b)+", "ab", 1), "a");  // Perl, Java and RE2 keep the last iteration's capture
  EXPECT_EQ(group("x", "abc"), "<none>");
  EXPECT_EQ(group("b", "abcb", 0, 2), "b");
  auto m = re("c(d)").search("abcd");
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0].begin, 2u);
  EXPECT_EQ((*m)[1].begin, 3u);
  EXPECT_EQ((*m)[1].end, 4u);
}

TEST(regex, classes_escapes_and_anchors) {
  EXPECT_TRUE(re("[^a-c]x").full_match("dx"));
  EXPECT_FALSE(re("[^a-c]x").full_match("bx"));
  EXPECT_TRUE(re("[]a]+").full_match("]a]"));
  EXPECT_TRUE(re("[a-]+").full_match("-a"));
  EXPECT_TRUE(re("[\\d_]+").full_match("1_2"));
  EXPECT_TRUE(re("\\w+\\s\\W").full_match("ab_9 !"));
  EXPECT_TRUE(re("\\D\\S").full_match("ab"));
  EXPECT_TRUE(re("[[:alpha:]]+[[:digit:]]").full_match("abC1"));
  EXPECT_TRUE(re("[[:^alpha:]]").full_match("1"));
  EXPECT_TRUE(re("a\\.b").full_match("a.b"));
  EXPECT_FALSE(re("a\\.b").full_match("axb"));
  EXPECT_TRUE(re("\\x41\\x{263A}").full_match("A\xE2\x98\xBA"));
  EXPECT_TRUE(re("\\Qa.b*\\Ec").full_match("a.b*c"));
  EXPECT_TRUE(re("\\t\\n").full_match("\t\n"));
  EXPECT_EQ(group("^a", "ba"), "<none>");
  EXPECT_EQ(group("a$", "ab"), "<none>");
  EXPECT_EQ(group("(?m)^b$", "a\nb\nc"), "b");
  EXPECT_EQ(group("\\bfoo\\b", "afoo foo"), "foo");
  EXPECT_EQ(re("\\bfoo\\b").search("afoo foo")->at(0).begin, 5u);
  EXPECT_EQ(group("\\Bo", "foo"), "o");
  EXPECT_EQ(group("\\Aa\\z", "a"), "a");
}

TEST(regex, flags_and_groups) {
  EXPECT_TRUE(re("(?i)orders").full_match("ORDERS"));
  EXPECT_TRUE(re("(?i:o)rders").full_match("Orders"));
  EXPECT_FALSE(re("(?i:o)rders").full_match("ORDERS"));
  EXPECT_TRUE(re("(?i)[a-c]+").full_match("AbC"));
  EXPECT_FALSE(re("(?i)[^a]").full_match("A"));
  EXPECT_TRUE(re("a(?i)b|c").full_match("C"));  // a flag lasts to the end of its group
  EXPECT_TRUE(re("(?i)a(?-i)b").full_match("Ab"));
  EXPECT_FALSE(re("(?i)a(?-i)b").full_match("AB"));
  EXPECT_FALSE(re("a.b").full_match("a\nb"));
  EXPECT_TRUE(re("(?s)a.b").full_match("a\nb"));
  EXPECT_EQ(re("(a)(?:b)(?<name>c)(?P<other>d)").group_count(), 3u);
  EXPECT_EQ(group("(?<n>b+)", "abbc", 1), "bb");
}

TEST(regex, utf8_text_is_matched_by_code_point) {
  EXPECT_TRUE(re("^.$").full_match("\xC3\xA9"));           // é is one character
  EXPECT_TRUE(re("[\xC3\xA0-\xC3\xBF]x").full_match("\xC3\xA9x"));
  EXPECT_TRUE(re("..").full_match("\xFF\xFE"));            // invalid bytes: one U+FFFD each
  EXPECT_TRUE(re("a.c").full_match("a\xF0\x9F\x98\x80" "c"));
  EXPECT_EQ(error_of("\xFF"), "invalid UTF-8 at offset 0");
}

TEST(regex, refuses_what_it_cannot_do_with_a_reason) {
  EXPECT_EQ(error_of("(a"), "missing ')' for the group at offset 0");
  EXPECT_EQ(error_of("a)"), "unmatched ')' at offset 1");
  EXPECT_EQ(error_of("[a"), "missing ']' for the class at offset 0");
  EXPECT_EQ(error_of("*a"), "missing argument to repetition operator `*` at offset 0");
  EXPECT_EQ(error_of("a**"), "bad repetition operator `**` at offset 1");
  EXPECT_EQ(error_of("a*+"), "possessive quantifiers are not supported (offset 2)");
  EXPECT_EQ(error_of("(?=a)"), "lookaround is not supported (offset 0)");
  EXPECT_EQ(error_of("(?<!a)b"), "lookaround is not supported (offset 0)");
  EXPECT_EQ(error_of("(a)\\1"), "back-references are not supported (offset 3)");
  EXPECT_EQ(error_of("a\\"), "trailing backslash at the end of the pattern");
  EXPECT_EQ(error_of("\\y"), "invalid or unsupported escape `\\y` at offset 0");
  EXPECT_EQ(error_of("[z-a]"), "invalid range in the class at offset 0");
  EXPECT_EQ(error_of("a{1001}"), "repetition count over 1000 at offset 1");
  EXPECT_EQ(error_of("a{3,2}"), "repetition {3,2} has its maximum below its minimum at offset 1");
  EXPECT_EQ(error_of("(?x)a"), "unsupported flag `x` at offset 2");
  EXPECT_EQ(error_of("[[:bogus:]]"), "unknown POSIX class `bogus` at offset 1");
  EXPECT_EQ(error_of("(a{1000}){1000}"), "the pattern is too large: its repetitions expand past 20000 instructions");
}

TEST(regex, hostile_patterns_and_texts_stay_bounded) {
  // std::regex recursed once per term: a long pattern overflowed the broker's stack.
  const std::string long_literal(15'000, 'a');
  EXPECT_TRUE(re(long_literal).full_match(long_literal));
  EXPECT_EQ(error_of(std::string(100'000, 'a')), "the pattern is too large: its repetitions expand past 20000 instructions");
  const std::string deep = std::string(100'000, '(') + std::string(100'000, ')');
  EXPECT_EQ(error_of(deep), "nesting deeper than 1000");
  const std::string nested = std::string(1000, '(') + "a" + std::string(1000, ')');
  EXPECT_TRUE(re(nested).full_match("a"));
  EXPECT_EQ(error_of(std::string(200'000, '|')), "the pattern is too large: its repetitions expand past 20000 instructions");
  std::string alternatives;
  for (int i = 0; i < 3000; ++i) alternatives += "x|";
  EXPECT_TRUE(re(alternatives + "y").full_match("y"));
  // Backtracking engines take exponential time on these; a Pike VM takes text × program.
  const std::string as(50'000, 'a');
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(re("(a*)*b").full_match(as));
  EXPECT_FALSE(re("(a|aa)+b").full_match(as));
  EXPECT_FALSE(re("(x+x+)+y").full_match(std::string(5'000, 'x')));
  EXPECT_TRUE(re("(.*)*").full_match(as));
  EXPECT_EQ(re("a*?$").search(as)->at(0).begin, 0u);
  // Not a timing assertion: a recording of the cost, which a backtracking engine makes minutes.
  std::printf("hostile texts took %.3f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

// Random patterns over {a, b} where RE2's and ECMAScript's leftmost-first semantics agree
// (no repetition of an operand that can match empty, where ECMAScript stops an iteration).
struct generator {
  std::mt19937_64 rng;
  explicit generator(uint64_t seed) : rng(seed) {}
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }

  // Returns a pattern and whether it can match the empty string.
  std::pair<std::string, bool> expr(int depth) {
    const size_t kind = depth <= 0 ? pick(3) : pick(8);
    switch (kind) {
      case 0: return {std::string(1, "ab"[pick(2)]), false};
      case 1: return {pick(2) ? "." : "[ab]", false};
      case 2: return {pick(2) ? "[^a]" : "b", false};
      case 3: {  // concatenation
        auto [x, ex] = expr(depth - 1);
        auto [y, ey] = expr(depth - 1);
        return {x + y, ex && ey};
      }
      case 4: {  // alternation in a group
        auto [x, ex] = expr(depth - 1);
        auto [y, ey] = expr(depth - 1);
        return {(pick(2) ? "(" : "(?:") + x + "|" + y + ")", ex || ey};
      }
      case 5: {  // capture
        auto [x, ex] = expr(depth - 1);
        return {"(" + x + ")", ex};
      }
      default: {  // repetition of a non-empty operand
        auto [x, ex] = expr(depth - 1);
        if (ex) return {"(?:" + x + ")", ex};
        static const char* ops[] = {"*", "+", "?", "{1,2}", "{2}", "{0,2}", "{1,}"};
        const std::string op = ops[pick(7)];
        const std::string lazy = pick(3) == 0 ? "?" : "";
        const bool empty = op == "*" || op == "?" || op == "{0,2}";
        return {"(?:" + x + ")" + op + lazy, empty};
      }
    }
  }
  std::string text() {
    std::string t;
    for (size_t n = pick(8); n > 0; --n) t.push_back("abc"[pick(3)]);
    return t;
  }
};

TEST(regex, random_patterns_match_as_std_regex_where_the_grammars_agree) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("GREGOR_REGEX_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (GREGOR_REGEX_SEED=" + std::to_string(seed) + " replays it)");
  generator gen(seed);
  for (int i = 0; i < 2000; ++i) {
    const std::string pattern = gen.expr(4).first;
    const std::regex reference(pattern, std::regex::ECMAScript);
    const regex ours = re(pattern);
    for (int j = 0; j < 10; ++j) {
      const std::string text = gen.text();
      ASSERT_EQ(ours.full_match(text), std::regex_match(text, reference)) << "pattern " << pattern << " text " << text;
      std::smatch expected;
      const bool found = std::regex_search(text, expected, reference);
      auto got = ours.search(text);
      ASSERT_EQ(got.has_value(), found) << "pattern " << pattern << " text " << text;
      if (found) {
        EXPECT_EQ(got->at(0).begin, size_t(expected.position(0))) << "pattern " << pattern << " text " << text;
        EXPECT_EQ(got->at(0).end - got->at(0).begin, size_t(expected.length(0))) << "pattern " << pattern << " text " << text;
      }
    }
  }
}

}  // namespace
}  // namespace gregor
