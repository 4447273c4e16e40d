#pragma once
// regex: a linear-time regular expression for patterns that come from clients and config
// (KIP-848's SubscribedTopicRegex, ListTransactions' TransactionalIdPattern, principal mapping
// rules). Kafka compiles the first with RE2/J and the others with java.util.regex; this engine
// takes RE2's syntax, the common part of both, and refuses what only a backtracking engine can do
// (back-references, lookaround, possessive quantifiers) with an error naming it.
//
// Why not std::regex: libstdc++ compiles and matches by recursion, one stack frame per pattern
// term and per input character, so a client's long pattern overflows the stack (found by
// test_odd_requests under ASan) and a nested repetition backtracks exponentially. Here the parser
// bounds nesting at `nesting_max`, the program at `program_max` instructions, and matching is a
// Pike VM: time O(text × program), memory O(program), no recursion over the text.
//
// Text is UTF-8: `.` and classes match code points; an invalid byte is one U+FFFD. Case folding
// ((?i)) and \b, \w, \d, \s are ASCII, as in RE2. Captured positions are byte offsets.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"

namespace gregor {

class regex {
 public:
  static constexpr size_t nesting_max = 1000;     // parentheses and repetitions inside each other
  static constexpr size_t repeat_max = 1000;      // the largest count of {n,m}, as RE2
  static constexpr size_t program_max = 20'000;   // instructions once counted repetitions expand

  // The compiled pattern, or an error naming what is wrong and where.
  static result<regex, std::string> compile(std::string_view pattern);

  // True when the whole text matches (Java's Matcher.matches, RE2's FullMatch).
  bool full_match(std::string_view text) const;

  // A match's groups: [0] is the whole match; a group that took no part is {npos, npos}.
  struct span {
    size_t begin = npos, end = npos;
    bool matched() const { return begin != npos; }
  };
  static constexpr size_t npos = static_cast<size_t>(-1);

  // The leftmost match starting at or after `from` (leftmost-first: alternatives and greedy or
  // lazy repetitions prefer as Perl, Java and RE2 do), with every group; nullopt when none.
  std::optional<std::vector<span>> search(std::string_view text, size_t from = 0) const;

  // Capturing groups in the pattern, not counting the whole match.
  size_t group_count() const;

  struct program;

 private:
  explicit regex(std::shared_ptr<const program> p) : _p(std::move(p)) {}
  std::shared_ptr<const program> _p;
};

}  // namespace gregor
