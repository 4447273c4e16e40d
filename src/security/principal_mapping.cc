#include "gregor/security/principal_mapping.h"

#include <regex>
#include <vector>

#include <fmt/format.h>

namespace gregor::security {

struct principal_mapper::rules {
  struct rule {
    bool is_default = false;
    std::regex pattern;
    std::string replacement;
    bool to_lower = false, to_upper = false;
  };
  std::vector<rule> list;
};

namespace {

bool is_java_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_java_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_java_space(s.back())) s.remove_suffix(1);
  return s;
}

// Reads up to the next unescaped '/', keeping escapes as written (a pattern gives them to the
// regex, a replacement interprets them). nullopt when there is no closing '/'.
std::optional<std::string_view> read_part(std::string_view s, size_t& pos) {
  size_t start = pos;
  while (pos < s.size()) {
    if (s[pos] == '\\') {
      if (pos + 1 >= s.size()) return std::nullopt;
      pos += 2;
      continue;
    }
    if (s[pos] == '/') {
      std::string_view part = s.substr(start, pos - start);
      ++pos;
      return part;
    }
    ++pos;
  }
  return std::nullopt;
}

// Java's Matcher.appendReplacement accepts '\' + any character and '$' + digits only.
bool valid_replacement(std::string_view r) {
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i] == '\\') {
      if (++i >= r.size()) return false;
    } else if (r[i] == '$') {
      if (i + 1 >= r.size() || r[i + 1] < '0' || r[i + 1] > '9') return false;
    }
  }
  return true;
}

// Java's replacement semantics with Kafka's escapeLiteralBackReferences: "$n" whose first digit
// names a group that does not exist is literal text; otherwise as many digits as still name a
// group are taken; "\x" is x.
void expand(std::string& out, std::string_view r, const std::cmatch& m, size_t groups) {
  for (size_t i = 0; i < r.size(); ++i) {
    char c = r[i];
    if (c == '\\' && i + 1 < r.size()) {
      out.push_back(r[++i]);
      continue;
    }
    if (c == '$' && i + 1 < r.size() && r[i + 1] >= '0' && r[i + 1] <= '9') {
      size_t ref = size_t(r[i + 1] - '0');
      if (ref > groups) {
        out.push_back('$');
        continue;
      }
      size_t j = i + 2;
      while (j < r.size() && r[j] >= '0' && r[j] <= '9') {
        size_t next = ref * 10 + size_t(r[j] - '0');
        if (next > groups) break;
        ref = next;
        ++j;
      }
      if (m[ref].matched) out.append(m[ref].first, m[ref].second);
      i = j - 1;
      continue;
    }
    out.push_back(c);
  }
}

std::optional<std::string> apply_rule(const principal_mapper::rules::rule& rule, std::string_view dn) {
  if (rule.is_default) return std::string(dn);
  if (dn.size() > principal_mapper::dn_bytes_max) return std::nullopt;
  const char* begin = dn.data();
  const char* end = dn.data() + dn.size();
  if (!std::regex_match(begin, end, rule.pattern)) return std::nullopt;
  // String.replaceAll: every match of the pattern in the DN is replaced.
  std::string out;
  const char* last = begin;
  size_t groups = rule.pattern.mark_count();
  for (std::cregex_iterator it(begin, end, rule.pattern), stop; it != stop; ++it) {
    const auto& m = *it;
    out.append(last, m[0].first);
    expand(out, rule.replacement, m, groups);
    last = m[0].second;
  }
  out.append(last, end);
  for (char& c : out) {
    if (rule.to_lower && c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (rule.to_upper && c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  }
  return out;
}

}  // namespace

std::optional<std::string> principal_mapper::apply(std::string_view dn) const {
  if (!_rules) return std::nullopt;
  for (const auto& rule : _rules->list)
    if (auto name = apply_rule(rule, dn)) return name;
  return std::nullopt;
}

std::string principal_mapper::map(std::string_view dn) const {
  auto name = apply(dn);
  return name ? std::move(*name) : std::string(dn);
}

size_t principal_mapper::rule_count() const { return _rules ? _rules->list.size() : 0; }

result<principal_mapper, std::string> parse_principal_mapping_rules(std::string_view text) {
  auto parsed = std::make_shared<principal_mapper::rules>();
  std::string_view s = trim(text);
  size_t pos = 0;
  while (pos < s.size()) {
    while (pos < s.size() && is_java_space(s[pos])) ++pos;
    size_t start = pos;
    const auto invalid = [&](size_t from) -> std::string {
      size_t e = s.find(',', from);
      std::string_view rule = s.substr(start, (e == std::string_view::npos ? s.size() : e) - start);
      rule = trim(rule);
      if (from == start) return fmt::format("Invalid rule: {}", rule);
      return fmt::format("Invalid rule: `{}`, unmatched substring: `{}`", rule, rule.substr(std::min(from - start, rule.size())));
    };
    if (pos < s.size() && s[pos] == ',') {
      // An empty rule, as Kafka, is ignored.
      ++pos;
      continue;
    }
    principal_mapper::rules::rule rule;
    if (s.substr(pos).starts_with("DEFAULT")) {
      rule.is_default = true;
      pos += 7;
    } else if (s.substr(pos).starts_with("RULE:")) {
      pos += 5;
      auto pattern = read_part(s, pos);
      std::optional<std::string_view> replacement;
      if (pattern) replacement = read_part(s, pos);
      if (!pattern || !replacement) return failure{invalid(start)};
      if (pos < s.size() && (s[pos] == 'L' || s[pos] == 'U')) {
        rule.to_lower = s[pos] == 'L';
        rule.to_upper = s[pos] == 'U';
        ++pos;
      }
      if (!valid_replacement(*replacement))
        return failure{fmt::format("Invalid rule: {}: invalid replacement `{}`", trim(s.substr(start, pos - start)), *replacement)};
      try {
        rule.pattern = std::regex(std::string(*pattern), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return failure{fmt::format("Invalid rule: {}: pattern `{}` does not compile: {}",
                                   trim(s.substr(start, pos - start)), *pattern, e.what())};
      }
      rule.replacement = std::string(*replacement);
    } else {
      return failure{invalid(start)};
    }
    size_t after = pos;
    while (pos < s.size() && is_java_space(s[pos])) ++pos;
    if (pos < s.size() && s[pos] != ',') return failure{invalid(after)};
    if (pos < s.size()) ++pos;
    parsed->list.push_back(std::move(rule));
  }
  principal_mapper mapper;
  mapper._rules = std::move(parsed);
  return mapper;
}

}  // namespace gregor::security
