#pragma once
// A strict JSON (RFC 8259) reader for the small documents OAUTHBEARER handles: a JWT's header and
// claims, and a JWKS. It keeps what JWT validation needs and yaml-cpp loses: whether a value was a
// string or a number. Bounded: nesting depth (json_depth_max) and the input's size are checked
// before any recursion, so a hostile token cannot exhaust the stack. Pure, no I/O.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"

namespace gregor::security {

inline constexpr int json_depth_max = 32;

struct json_value {
  enum class kind { null, boolean, number, string, array, object } what = kind::null;
  bool boolean = false;
  double number = 0;
  std::string text;  // a string's value (unescaped, UTF-8), or a number as written
  std::vector<json_value> items;
  // Members of an object; a repeated name keeps the last value (as Jackson and jose4j do).
  std::map<std::string, json_value, std::less<>> members;

  bool is_string() const { return what == kind::string; }
  bool is_number() const { return what == kind::number; }
  bool is_object() const { return what == kind::object; }
  bool is_array() const { return what == kind::array; }
  // The member `name` of an object, or null when absent (or this is not an object).
  const json_value* find(std::string_view name) const;
};

// Parses exactly one JSON value (surrounding whitespace allowed). Errors name the byte offset.
result<json_value, std::string> parse_json(std::string_view text);

// `s` as a JSON string literal (quotes and escapes), for writing documents in tests and logs.
std::string json_quote(std::string_view s);

}  // namespace gregor::security
