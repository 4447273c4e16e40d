#include "gregor/security/json.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace gregor::security {
namespace {

class json_reader {
 public:
  explicit json_reader(std::string_view text) : _text(text) {}

  result<json_value, std::string> document() {
    json_value v;
    skip_space();
    if (!value(v, 0)) return failure{_error};
    skip_space();
    if (_pos != _text.size()) return failure{fmt::format("unexpected '{}' after the value at offset {}", shown(), _pos)};
    return v;
  }

 private:
  bool fail(std::string why) {
    if (_error.empty()) _error = fmt::format("{} at offset {}", why, _pos);
    return false;
  }
  std::string shown() const {
    if (_pos >= _text.size()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(_text[_pos]);
    return c >= 0x20 && c < 0x7f ? std::string(1, char(c)) : fmt::format("\\x{:02x}", c);
  }
  void skip_space() {
    while (_pos < _text.size() &&
           (_text[_pos] == ' ' || _text[_pos] == '\t' || _text[_pos] == '\n' || _text[_pos] == '\r'))
      ++_pos;
  }
  bool literal(std::string_view word) {
    if (_text.substr(_pos, word.size()) != word) return fail(fmt::format("unexpected '{}'", shown()));
    _pos += word.size();
    return true;
  }

  bool value(json_value& out, int depth) {
    if (_pos >= _text.size()) return fail("unexpected end of input");
    switch (_text[_pos]) {
      case '{': return object(out, depth + 1);
      case '[': return array(out, depth + 1);
      case '"': out.what = json_value::kind::string; return string(out.text);
      case 't': out.what = json_value::kind::boolean; out.boolean = true; return literal("true");
      case 'f': out.what = json_value::kind::boolean; out.boolean = false; return literal("false");
      case 'n': out.what = json_value::kind::null; return literal("null");
      default: return number(out);
    }
  }

  bool object(json_value& out, int depth) {
    if (depth > json_depth_max) return fail(fmt::format("nested deeper than {}", json_depth_max));
    out.what = json_value::kind::object;
    ++_pos;
    skip_space();
    if (_pos < _text.size() && _text[_pos] == '}') {
      ++_pos;
      return true;
    }
    for (;;) {
      skip_space();
      if (_pos >= _text.size() || _text[_pos] != '"') return fail(fmt::format("expected a member name, got '{}'", shown()));
      std::string name;
      if (!string(name)) return false;
      skip_space();
      if (_pos >= _text.size() || _text[_pos] != ':') return fail(fmt::format("expected ':', got '{}'", shown()));
      ++_pos;
      skip_space();
      json_value v;
      if (!value(v, depth)) return false;
      out.members.insert_or_assign(std::move(name), std::move(v));
      skip_space();
      if (_pos < _text.size() && _text[_pos] == ',') {
        ++_pos;
        continue;
      }
      if (_pos < _text.size() && _text[_pos] == '}') {
        ++_pos;
        return true;
      }
      return fail(fmt::format("expected ',' or '}}', got '{}'", shown()));
    }
  }

  bool array(json_value& out, int depth) {
    if (depth > json_depth_max) return fail(fmt::format("nested deeper than {}", json_depth_max));
    out.what = json_value::kind::array;
    ++_pos;
    skip_space();
    if (_pos < _text.size() && _text[_pos] == ']') {
      ++_pos;
      return true;
    }
    for (;;) {
      skip_space();
      json_value v;
      if (!value(v, depth)) return false;
      out.items.push_back(std::move(v));
      skip_space();
      if (_pos < _text.size() && _text[_pos] == ',') {
        ++_pos;
        continue;
      }
      if (_pos < _text.size() && _text[_pos] == ']') {
        ++_pos;
        return true;
      }
      return fail(fmt::format("expected ',' or ']', got '{}'", shown()));
    }
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(char(cp));
    } else if (cp < 0x800) {
      out.push_back(char(0xc0 | (cp >> 6)));
      out.push_back(char(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(char(0xe0 | (cp >> 12)));
      out.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(char(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(char(0xf0 | (cp >> 18)));
      out.push_back(char(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(char(0x80 | (cp & 0x3f)));
    }
  }

  bool hex4(uint32_t& out) {
    if (_text.size() - _pos < 4) return fail("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = _text[_pos++];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return fail("bad hex digit in a \\u escape");
      out = out * 16 + uint32_t(d);
    }
    return true;
  }

  bool string(std::string& out) {
    ++_pos;  // the opening quote
    for (;;) {
      if (_pos >= _text.size()) return fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(_text[_pos]);
      if (c == '"') {
        ++_pos;
        return true;
      }
      if (c < 0x20) return fail("control character in a string");
      if (c != '\\') {
        out.push_back(char(c));
        ++_pos;
        continue;
      }
      if (++_pos >= _text.size()) return fail("unterminated escape");
      const char e = _text[_pos++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00) {
            uint32_t low = 0;
            if (_text.substr(_pos, 2) != "\\u") return fail("unpaired surrogate");
            _pos += 2;
            if (!hex4(low)) return false;
            if (low < 0xdc00 || low >= 0xe000) return fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return fail("unpaired surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: --_pos; return fail("bad escape");
      }
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number(json_value& out) {
    const size_t start = _pos;
    if (_pos < _text.size() && _text[_pos] == '-') ++_pos;
    if (_pos >= _text.size() || !digit(_text[_pos])) {
      _pos = start;
      return fail(fmt::format("unexpected '{}'", shown()));
    }
    if (_text[_pos] == '0') {
      ++_pos;
    } else {
      while (_pos < _text.size() && digit(_text[_pos])) ++_pos;
    }
    if (_pos < _text.size() && _text[_pos] == '.') {
      ++_pos;
      if (_pos >= _text.size() || !digit(_text[_pos])) return fail("expected a digit after '.'");
      while (_pos < _text.size() && digit(_text[_pos])) ++_pos;
    }
    if (_pos < _text.size() && (_text[_pos] == 'e' || _text[_pos] == 'E')) {
      ++_pos;
      if (_pos < _text.size() && (_text[_pos] == '+' || _text[_pos] == '-')) ++_pos;
      if (_pos >= _text.size() || !digit(_text[_pos])) return fail("expected a digit in the exponent");
      while (_pos < _text.size() && digit(_text[_pos])) ++_pos;
    }
    out.what = json_value::kind::number;
    out.text = std::string(_text.substr(start, _pos - start));
    out.number = std::strtod(out.text.c_str(), nullptr);
    if (!std::isfinite(out.number)) return fail("number out of range");
    return true;
  }

  std::string_view _text;
  size_t _pos = 0;
  std::string _error;
};

}  // namespace

const json_value* json_value::find(std::string_view name) const {
  if (what != kind::object) return nullptr;
  auto it = members.find(name);
  return it == members.end() ? nullptr : &it->second;
}

result<json_value, std::string> parse_json(std::string_view text) { return json_reader(text).document(); }

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace gregor::security
