#pragma once
// Value parsers shared by the broker and topic config tables (private to the config module).
// Each returns false on bad input and leaves `out` untouched.
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

}  // namespace gregor::config::detail
