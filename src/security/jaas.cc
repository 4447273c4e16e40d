#include "gregor/security/jaas.h"

#include <optional>

#include <fmt/format.h>

namespace gregor::security {
namespace {

// A token of Java's StreamTokenizer as Kafka's JaasConfig configures it.
struct token {
  enum class kind { eof, word, quoted, semicolon, equals } k;
  std::string text;
  size_t offset;
  bool has_text() const { return k == kind::word || k == kind::quoted; }
};

class tokenizer {
 public:
  explicit tokenizer(std::string_view s) : _s(s) {}

  // nullopt with _error set on an unterminated string or comment.
  std::optional<token> next() {
    while (_pos < _s.size()) {
      unsigned char c = static_cast<unsigned char>(_s[_pos]);
      if (c <= ' ') {
        ++_pos;
        continue;
      }
      if (c == '/') {
        if (_pos + 1 < _s.size() && _s[_pos + 1] == '*') {
          size_t end = _s.find("*/", _pos + 2);
          if (end == std::string_view::npos) {
            _error = fmt::format("Unterminated /* comment in JAAS config (at offset {})", _pos);
            return std::nullopt;
          }
          _pos = end + 2;
          continue;
        }
        // "//" and a lone '/' both comment out the rest of the line.
        while (_pos < _s.size() && _s[_pos] != '\n' && _s[_pos] != '\r') ++_pos;
        continue;
      }
      size_t start = _pos;
      if (c == ';') {
        ++_pos;
        return token{token::kind::semicolon, ";", start};
      }
      if (c == '=') {
        ++_pos;
        return token{token::kind::equals, "=", start};
      }
      if (c == '"' || c == '\'') return quoted(char(c));
      std::string word;
      while (_pos < _s.size()) {
        unsigned char w = static_cast<unsigned char>(_s[_pos]);
        if (w <= ' ' || w == ';' || w == '=' || w == '"' || w == '\'' || w == '/') break;
        word.push_back(char(w));
        ++_pos;
      }
      return token{token::kind::word, std::move(word), start};
    }
    return token{token::kind::eof, {}, _s.size()};
  }

  const std::string& error() const { return _error; }

 private:
  std::optional<token> quoted(char quote) {
    size_t start = _pos++;
    std::string out;
    while (_pos < _s.size()) {
      char c = _s[_pos];
      if (c == quote) {
        ++_pos;
        return token{token::kind::quoted, std::move(out), start};
      }
      if (c == '\n' || c == '\r') break;
      ++_pos;
      if (c != '\\' || _pos >= _s.size()) {
        out.push_back(c);
        continue;
      }
      char e = _s[_pos++];
      switch (e) {
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        default:
          if (e >= '0' && e <= '7') {
            // Java: up to three octal digits, three only when the first is 0..3.
            int v = e - '0';
            int max_digits = e <= '3' ? 3 : 2;
            for (int n = 1; n < max_digits && _pos < _s.size() && _s[_pos] >= '0' && _s[_pos] <= '7'; ++n)
              v = v * 8 + (_s[_pos++] - '0');
            out.push_back(char(v));
          } else {
            out.push_back(e);
          }
      }
    }
    _error = fmt::format("Unterminated quoted value in JAAS config (at offset {})", start);
    return std::nullopt;
  }

  std::string_view _s;
  size_t _pos = 0;
  std::string _error;
};

std::optional<std::string> control_flag(std::string_view flag) {
  std::string lower;
  for (char c : flag) lower.push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c);
  if (lower == "required" || lower == "requisite" || lower == "sufficient" || lower == "optional") return lower;
  return std::nullopt;
}

}  // namespace

result<std::vector<jaas_entry>, std::string> parse_jaas_config(std::string_view text) {
  tokenizer tz(text);
  std::vector<jaas_entry> entries;
  const auto at = [](std::string_view msg, size_t offset) { return fmt::format("{} (at offset {})", msg, offset); };
  auto tok = tz.next();
  if (!tok) return failure{tz.error()};
  while (tok->k != token::kind::eof) {
    if (!tok->has_text()) return failure{at("Login module not specified in JAAS config", tok->offset)};
    jaas_entry entry;
    entry.login_module = std::move(tok->text);
    tok = tz.next();
    if (!tok) return failure{tz.error()};
    if (tok->k == token::kind::eof)
      return failure{at("Login module control flag not specified in JAAS config", tok->offset)};
    auto flag = tok->has_text() ? control_flag(tok->text) : std::nullopt;
    if (!flag)
      return failure{at(fmt::format("Invalid login module control flag '{}' in JAAS config", tok->text), tok->offset)};
    entry.control_flag = std::move(*flag);
    while (true) {
      tok = tz.next();
      if (!tok) return failure{tz.error()};
      if (tok->k == token::kind::eof || tok->k == token::kind::semicolon) break;
      if (!tok->has_text()) return failure{at("Option name not specified in JAAS config", tok->offset)};
      std::string key = std::move(tok->text);
      size_t key_offset = tok->offset;
      auto eq = tz.next();
      if (!eq) return failure{tz.error()};
      std::optional<token> value;
      if (eq->k == token::kind::equals) {
        value = tz.next();
        if (!value) return failure{tz.error()};
      }
      if (eq->k != token::kind::equals || !value->has_text())
        return failure{at(fmt::format("Value not specified for key '{}' in JAAS config", key), key_offset)};
      entry.options[key] = std::move(value->text);
    }
    if (tok->k != token::kind::semicolon)
      return failure{at("JAAS config entry not terminated by semi-colon", tok->offset)};
    entries.push_back(std::move(entry));
    tok = tz.next();
    if (!tok) return failure{tz.error()};
  }
  if (entries.empty()) return failure{std::string("Login module not specified in JAAS config")};
  return entries;
}

result<jaas_entry, std::string> parse_jaas_config_entry(std::string_view text) {
  auto entries = parse_jaas_config(text);
  if (!entries) return failure{entries.error()};
  if (entries->size() != 1)
    return failure{fmt::format("JAAS config property contains {} login modules, should be 1 module", entries->size())};
  return std::move(entries->front());
}

std::map<std::string, std::string> plain_users(const jaas_entry& entry) {
  std::map<std::string, std::string> users;
  for (const auto& [key, value] : entry.options)
    if (key.starts_with("user_") && key.size() > 5) users.emplace(key.substr(5), value);
  return users;
}

}  // namespace gregor::security
