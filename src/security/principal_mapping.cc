#include "gregor/security/principal_mapping.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "gregor/base/regex.h"

namespace gregor::security {

struct principal_mapper::rules {
  struct rule {
    bool is_default = false;
    std::optional<regex> pattern;  // set unless is_default
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
void expand(std::string& out, std::string_view r, std::string_view text, const std::vector<regex::span>& m) {
  const size_t groups = m.size() - 1;  // m[0] is the whole match
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
      if (m[ref].matched()) out.append(text.substr(m[ref].begin, m[ref].end - m[ref].begin));
      i = j - 1;
      continue;
    }
    out.push_back(c);
  }
}

std::optional<std::string> apply_rule(const principal_mapper::rules::rule& rule, std::string_view dn) {
  if (rule.is_default) return std::string(dn);
  const regex& pattern = *rule.pattern;
  if (!pattern.full_match(dn)) return std::nullopt;
  // String.replaceAll: every match of the pattern in the DN is replaced; after an empty match the
  // next search starts one character further, as Matcher.find.
  std::string out;
  size_t last = 0, from = 0;
  while (from <= dn.size()) {
    auto m = pattern.search(dn, from);
    if (!m) break;
    const regex::span whole = (*m)[0];
    out.append(dn.substr(last, whole.begin - last));
    expand(out, rule.replacement, dn, *m);
    last = whole.end;
    from = whole.end;
    if (whole.end == whole.begin) {
      if (from >= dn.size()) break;
      ++from;
      while (from < dn.size() && (static_cast<uint8_t>(dn[from]) & 0xC0) == 0x80) ++from;
    }
  }
  out.append(dn.substr(last));
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
      auto compiled = regex::compile(*pattern);
      if (!compiled)
        return failure{fmt::format("Invalid rule: {}: pattern `{}` does not compile: {}",
                                   trim(s.substr(start, pos - start)), *pattern, compiled.error())};
      rule.pattern.emplace(std::move(*compiled));
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

// ---- x509_name_rfc2253 ----

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

namespace gregor::security {
namespace {

// The attributes Java's AVAKeyword marks as RFC 2253 keywords.
const char* rfc2253_keyword(int nid) {
  switch (nid) {
    case NID_commonName: return "CN";
    case NID_countryName: return "C";
    case NID_localityName: return "L";
    case NID_stateOrProvinceName: return "ST";
    case NID_organizationName: return "O";
    case NID_organizationalUnitName: return "OU";
    case NID_streetAddress: return "STREET";
    case NID_domainComponent: return "DC";
    case NID_userId: return "UID";
    default: return nullptr;
  }
}

// Java's DerValue.isDerString: the string types it prints as text.
bool is_der_string(int type) {
  switch (type) {
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_T61STRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_GENERALSTRING:
    case V_ASN1_BMPSTRING:
    case V_ASN1_UTF8STRING:
    case V_ASN1_UNIVERSALSTRING:
      return true;
    default:
      return false;
  }
}

void append_hex_der(std::string& out, const ASN1_STRING* value) {
  // DER of a universal primitive: tag, length, contents (the ASN.1 type numbers are the tags).
  int len = ASN1_STRING_length(value);
  std::vector<uint8_t> der;
  der.push_back(uint8_t(ASN1_STRING_type(value) & 0x1f));
  if (len < 0x80) {
    der.push_back(uint8_t(len));
  } else {
    std::vector<uint8_t> bytes;
    for (int l = len; l > 0; l >>= 8) bytes.insert(bytes.begin(), uint8_t(l & 0xff));
    der.push_back(uint8_t(0x80 | bytes.size()));
    der.insert(der.end(), bytes.begin(), bytes.end());
  }
  const uint8_t* data = ASN1_STRING_get0_data(value);
  der.insert(der.end(), data, data + len);
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('#');
  for (uint8_t b : der) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
}

void append_escaped(std::string& out, std::string_view value) {
  std::string body;
  for (char c : value) {
    if (c == '\0') {
      body += "\\00";
      continue;
    }
    if (std::string_view(",=+<>#;\"\\").find(c) != std::string_view::npos) body.push_back('\\');
    body.push_back(c);
  }
  size_t lead = 0;
  while (lead < body.size() && (body[lead] == ' ' || body[lead] == '\r')) ++lead;
  size_t trail = body.size();
  while (trail > lead && (body[trail - 1] == ' ' || body[trail - 1] == '\r')) --trail;
  for (size_t i = 0; i < body.size(); ++i) {
    if (i < lead || i >= trail) out.push_back('\\');
    out.push_back(body[i]);
  }
}

void append_ava(std::string& out, const X509_NAME_ENTRY* entry) {
  const ASN1_OBJECT* object = X509_NAME_ENTRY_get_object(entry);
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
  const char* keyword = rfc2253_keyword(OBJ_obj2nid(object));
  if (keyword) {
    out += keyword;
  } else {
    char oid[128];
    int n = OBJ_obj2txt(oid, sizeof(oid), object, 1);
    out.append(oid, n > 0 ? std::min<size_t>(size_t(n), sizeof(oid) - 1) : 0);
  }
  out.push_back('=');
  if (!keyword || !is_der_string(ASN1_STRING_type(value))) {
    append_hex_der(out, value);
    return;
  }
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, value);
  if (len < 0) {
    append_hex_der(out, value);
    return;
  }
  append_escaped(out, std::string_view(reinterpret_cast<const char*>(utf8), size_t(len)));
  OPENSSL_free(utf8);
}

}  // namespace

std::string x509_name_rfc2253(const X509_NAME* name) {
  std::string out;
  int count = X509_NAME_entry_count(name);
  // Entries come first RDN first; RFC 2253 prints the last RDN first, the AVAs of one RDN in order.
  int end = count;
  while (end > 0) {
    int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, end - 1));
    int begin = end - 1;
    while (begin > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, begin - 1)) == set) --begin;
    if (!out.empty()) out.push_back(',');
    for (int i = begin; i < end; ++i) {
      if (i > begin) out.push_back('+');
      append_ava(out, X509_NAME_get_entry(name, i));
    }
    end = begin;
  }
  return out;
}

}  // namespace gregor::security
