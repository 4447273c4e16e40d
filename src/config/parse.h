#pragma once
// Value parsers shared by the broker and topic config tables (private to the config module).
// Each returns false on bad input and leaves `out` untouched.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gregor::config::detail {

bool parse_int64(std::string_view text, int64_t& out);
bool parse_bool(std::string_view text, bool& out);
bool parse_double(std::string_view text, double& out);
// Splits on ',' and trims spaces; drops empty items.
std::vector<std::string> split_list(std::string_view text);
std::string join_list(const std::vector<std::string>& items);
std::string_view trim(std::string_view text);
std::string lower(std::string_view text);

// The "expected ..." phrase for an integer range, e.g. "an integer >= 1".
std::string int_range_phrase(int64_t min, int64_t max);

// Levenshtein distance when it is at most `cap`, otherwise some value above cap (stops once a
// whole row of the table exceeds cap). edit_distance() is the uncapped call.
size_t edit_distance_capped(std::string_view a, std::string_view b, size_t cap);

// The did-you-mean candidate for an unknown config name: the nearest of `names` within
// max(3, |name| / 3) edits, or "" (always "" for names over 128 characters, longer than any config,
// so a megabyte-long name from a client costs nothing). Ties go to the first.
std::string closest_name(std::string_view name, const std::vector<std::string_view>& names);

}  // namespace gregor::config::detail
