#include "gregor/base/regex.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace gregor {

namespace {

constexpr uint32_t max_rune = 0x10FFFF;
constexpr uint32_t bad_rune = 0xFFFD;

struct range {
  uint32_t lo, hi;
};
using ranges = std::vector<range>;

// One code point from UTF-8 at `pos`: {rune, bytes}. An invalid or truncated sequence, an
// overlong form or a surrogate is one U+FFFD of one byte.
std::pair<uint32_t, size_t> decode(std::string_view s, size_t pos) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[pos + i]); };
  const uint8_t c = b(0);
  if (c < 0x80) return {c, 1};
  size_t len;
  uint32_t r, min;
  if ((c & 0xE0) == 0xC0) len = 2, r = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) len = 3, r = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) len = 4, r = c & 0x07, min = 0x10000;
  else return {bad_rune, 1};
  if (pos + len > s.size()) return {bad_rune, 1};
  for (size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return {bad_rune, 1};
    r = (r << 6) | (b(i) & 0x3F);
  }
  if (r < min || r > max_rune || (r >= 0xD800 && r <= 0xDFFF)) return {bad_rune, 1};
  return {r, len};
}

void normalize(ranges& rs) {
  std::sort(rs.begin(), rs.end(), [](const range& a, const range& b) { return a.lo < b.lo; });
  ranges out;
  for (const range& r : rs) {
    if (!out.empty() && r.lo <= out.back().hi + 1) out.back().hi = std::max(out.back().hi, r.hi);
    else out.push_back(r);
  }
  rs = std::move(out);
}

ranges complement(ranges rs) {
  normalize(rs);
  ranges out;
  uint32_t next = 0;
  for (const range& r : rs) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= max_rune) out.push_back({next, max_rune});
  return out;
}

// ASCII case folding, as RE2's (?i) for ASCII letters.
void fold(ranges& rs) {
  const size_t n = rs.size();
  for (size_t i = 0; i < n; ++i) {
    const range r = rs[i];
    const uint32_t lo1 = std::max<uint32_t>(r.lo, 'a'), hi1 = std::min<uint32_t>(r.hi, 'z');
    if (lo1 <= hi1) rs.push_back({lo1 - 32, hi1 - 32});
    const uint32_t lo2 = std::max<uint32_t>(r.lo, 'A'), hi2 = std::min<uint32_t>(r.hi, 'Z');
    if (lo2 <= hi2) rs.push_back({lo2 + 32, hi2 + 32});
  }
}

const ranges digit_ranges{{'0', '9'}};
const ranges word_ranges{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const ranges space_ranges{{'\t', '\r'}, {' ', ' '}};  // \t \n \v \f \r and space, as Java's \s

bool is_word(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

enum class assertion : uint8_t { begin_text, end_text, begin_line, end_line, word_boundary, not_word_boundary };

bool holds(assertion a, std::string_view t, size_t pos) {
  switch (a) {
    case assertion::begin_text: return pos == 0;
    case assertion::end_text: return pos == t.size();
    case assertion::begin_line: return pos == 0 || t[pos - 1] == '\n';
    case assertion::end_line: return pos == t.size() || t[pos] == '\n';
    case assertion::word_boundary:
    case assertion::not_word_boundary: {
      const bool before = pos > 0 && is_word(t[pos - 1]);
      const bool after = pos < t.size() && is_word(t[pos]);
      return (before != after) == (a == assertion::word_boundary);
    }
  }
  return false;
}

// The parsed pattern: a tree of nodes held by index.
struct node {
  enum kind_t : uint8_t { empty, chars, concat, alternate, repeat, capture, assert_ } kind = empty;
  ranges set;               // chars
  std::vector<size_t> kids; // concat, alternate; repeat and capture have one
  size_t min = 0, max = 0;  // repeat; max == npos: unbounded
  bool greedy = true;
  size_t group = 0;         // capture
  assertion at = assertion::begin_text;
};

struct flags {
  bool icase = false, multiline = false, dotall = false;
};

struct parse_error {
  std::string message;
};

class parser {
 public:
  explicit parser(std::string_view p) : _p(p) {}

  size_t parse() {
    flags f;
    const size_t root = alternation(f, 0);
    if (_pos < _p.size()) fail(fmt::format("unmatched ')' at offset {}", _pos));
    return root;
  }

  std::vector<node> nodes;
  size_t groups = 0;

 private:
  [[noreturn]] void fail(std::string m) { throw parse_error{std::move(m)}; }

  size_t add(node n) {
    nodes.push_back(std::move(n));
    return nodes.size() - 1;
  }

  size_t alternation(flags& f, size_t depth) {
    std::vector<size_t> alts{concatenation(f, depth)};
    while (_pos < _p.size() && _p[_pos] == '|') {
      ++_pos;
      alts.push_back(concatenation(f, depth));
    }
    if (alts.size() == 1) return alts[0];
    node n;
    n.kind = node::alternate;
    n.kids = std::move(alts);
    return add(std::move(n));
  }

  // {n}, {n,} or {n,m} at `at`: its length and bounds, or nullopt when the brace is a literal
  // (RE2 reads a brace that starts no repetition as itself).
  struct counted {
    size_t length, min, max;
  };
  std::optional<counted> repetition_at(size_t at) const {
    if (at >= _p.size() || _p[at] != '{') return std::nullopt;
    size_t i = at + 1;
    const auto number = [&](size_t& out) {
      const size_t start = i;
      out = 0;
      while (i < _p.size() && _p[i] >= '0' && _p[i] <= '9') {
        out = std::min<size_t>(out * 10 + size_t(_p[i] - '0'), repeat_limit + 1);
        ++i;
      }
      return i > start;
    };
    size_t lo = 0, hi = 0;
    if (!number(lo)) return std::nullopt;
    hi = lo;
    if (i < _p.size() && _p[i] == ',') {
      ++i;
      if (i < _p.size() && _p[i] == '}') hi = regex::npos;
      else if (!number(hi)) return std::nullopt;
    }
    if (i >= _p.size() || _p[i] != '}') return std::nullopt;
    return counted{i + 1 - at, lo, hi};
  }

  bool quantifier_at(size_t at) const {
    return at < _p.size() && (_p[at] == '*' || _p[at] == '+' || _p[at] == '?' || repetition_at(at));
  }

  size_t concatenation(flags& f, size_t depth) {
    std::vector<size_t> items;
    while (_pos < _p.size() && _p[_pos] != '|' && _p[_pos] != ')') {
      std::optional<size_t> item = atom(f, depth);
      if (!item) {  // a flag group such as (?i): nothing to repeat
        if (quantifier_at(_pos)) fail(fmt::format("missing argument to repetition operator at offset {}", _pos));
        continue;
      }
      size_t current = *item;
      size_t nested = depth;
      if (quantifier_at(_pos)) {
        node r;
        r.kind = node::repeat;
        const size_t op_at = _pos;
        if (auto c = repetition_at(_pos)) {
          if (c->min > repeat_limit || (c->max != regex::npos && c->max > repeat_limit))
            fail(fmt::format("repetition count over {} at offset {}", repeat_limit, op_at));
          if (c->max != regex::npos && c->max < c->min)
            fail(fmt::format("repetition {{{},{}}} has its maximum below its minimum at offset {}", c->min, c->max, op_at));
          r.min = c->min, r.max = c->max;
          _pos += c->length;
        } else {
          const char q = _p[_pos++];
          r.min = q == '+' ? 1 : 0;
          r.max = q == '?' ? 1 : regex::npos;
        }
        if (_pos < _p.size() && _p[_pos] == '?') {
          r.greedy = false;
          ++_pos;
        } else if (_pos < _p.size() && _p[_pos] == '+') {
          fail(fmt::format("possessive quantifiers are not supported (offset {})", _pos));
        }
        if (quantifier_at(_pos))
          fail(fmt::format("bad repetition operator `{}` at offset {}", _p.substr(op_at, _pos + 1 - op_at), op_at));
        if (++nested > nesting_limit) fail(fmt::format("nesting deeper than {}", nesting_limit));
        r.kids = {current};
        current = add(std::move(r));
      }
      items.push_back(current);
    }
    if (items.size() == 1) return items[0];
    node n;
    n.kind = items.empty() ? node::empty : node::concat;
    n.kids = std::move(items);
    return add(std::move(n));
  }

  size_t literal(uint32_t rune, const flags& f) {
    node n;
    n.kind = node::chars;
    n.set = {{rune, rune}};
    if (f.icase) fold(n.set);
    normalize(n.set);
    return add(std::move(n));
  }

  size_t chars(ranges set) {
    node n;
    n.kind = node::chars;
    normalize(set);
    n.set = std::move(set);
    return add(std::move(n));
  }

  size_t assert_node(assertion a) {
    node n;
    n.kind = node::assert_;
    n.at = a;
    return add(std::move(n));
  }

  uint32_t rune() {
    auto [r, len] = decode(_p, _pos);
    if (r == bad_rune && len == 1 && static_cast<uint8_t>(_p[_pos]) >= 0x80)
      fail(fmt::format("invalid UTF-8 at offset {}", _pos));
    _pos += len;
    return r;
  }

  std::optional<size_t> atom(flags& f, size_t depth) {
    const char c = _p[_pos];
    switch (c) {
      case '(': return group(f, depth);
      case '[': return char_class(f);
      case '.':
        ++_pos;
        return chars(f.dotall ? ranges{{0, max_rune}} : ranges{{0, '\n' - 1}, {'\n' + 1, max_rune}});
      case '^': ++_pos; return assert_node(f.multiline ? assertion::begin_line : assertion::begin_text);
      case '$': ++_pos; return assert_node(f.multiline ? assertion::end_line : assertion::end_text);
      case '\\': return escape(f);
      case '*':
      case '+':
      case '?': fail(fmt::format("missing argument to repetition operator `{}` at offset {}", c, _pos));
      default: break;
    }
    if (c == '{' && repetition_at(_pos)) fail(fmt::format("missing argument to repetition operator at offset {}", _pos));
    return literal(rune(), f);
  }

  std::optional<size_t> group(flags& f, size_t depth) {
    const size_t open = _pos++;
    if (depth + 1 > nesting_limit) fail(fmt::format("nesting deeper than {}", nesting_limit));
    flags inner = f;
    bool capturing = true;
    if (_p.substr(_pos).starts_with("?")) {
      ++_pos;
      const std::string_view rest = _p.substr(_pos);
      if (rest.starts_with("=") || rest.starts_with("!") || rest.starts_with("<=") || rest.starts_with("<!"))
        fail(fmt::format("lookaround is not supported (offset {})", open));
      if (rest.starts_with(">")) fail(fmt::format("atomic groups are not supported (offset {})", open));
      if (rest.starts_with("P<") || rest.starts_with("<")) {
        _pos += rest.starts_with("P<") ? 2 : 1;
        const size_t name_at = _pos;
        while (_pos < _p.size() && (is_word(_p[_pos]))) ++_pos;
        if (_pos == name_at || _pos >= _p.size() || _p[_pos] != '>')
          fail(fmt::format("invalid group name at offset {}", name_at));
        ++_pos;
      } else {
        // Flags: (?flags) for the rest of the enclosing group, (?flags:re) for re; ':' alone is a
        // group that does not capture.
        bool negate = false, any = false;
        for (;;) {
          if (_pos >= _p.size()) fail(fmt::format("missing ')' for the group at offset {}", open));
          const char x = _p[_pos++];
          if (x == ':') {
            capturing = false;
            break;
          }
          if (x == ')') {
            if (negate && !any) fail(fmt::format("invalid flags at offset {}", open));
            f = inner;  // (?i): changes the enclosing group from here on
            return std::nullopt;
          }
          if (x == '-') {
            if (negate) fail(fmt::format("invalid flags at offset {}", open));
            negate = true;
            any = false;
            continue;
          }
          bool* flag = x == 'i' ? &inner.icase : x == 'm' ? &inner.multiline : x == 's' ? &inner.dotall : nullptr;
          if (!flag) fail(fmt::format("unsupported flag `{}` at offset {}", x, _pos - 1));
          *flag = !negate;
          any = true;
        }
      }
    }
    const size_t index = capturing ? ++groups : 0;
    const size_t body = alternation(inner, depth + 1);
    if (_pos >= _p.size() || _p[_pos] != ')') fail(fmt::format("missing ')' for the group at offset {}", open));
    ++_pos;
    if (!capturing) return body;
    node n;
    n.kind = node::capture;
    n.group = index;
    n.kids = {body};
    return add(std::move(n));
  }

  // \d \w \s and their negations, or nullopt for another escape.
  std::optional<ranges> class_escape(char x) const {
    switch (x) {
      case 'd': return digit_ranges;
      case 'D': return complement(digit_ranges);
      case 'w': return word_ranges;
      case 'W': return complement(word_ranges);
      case 's': return space_ranges;
      case 'S': return complement(space_ranges);
      default: return std::nullopt;
    }
  }

  // A single character written as an escape, with `_pos` after the backslash.
  uint32_t escaped_rune() {
    const size_t at = _pos - 1;
    if (_pos >= _p.size()) fail("trailing backslash at the end of the pattern");
    const char x = _p[_pos];
    switch (x) {
      case 't': ++_pos; return '\t';
      case 'n': ++_pos; return '\n';
      case 'r': ++_pos; return '\r';
      case 'f': ++_pos; return '\f';
      case 'v': ++_pos; return '\v';
      case 'a': ++_pos; return '\a';
      case 'e': ++_pos; return 0x1B;
      case 'x': {
        ++_pos;
        const auto hex = [&](char h) -> int {
          if (h >= '0' && h <= '9') return h - '0';
          if (h >= 'a' && h <= 'f') return h - 'a' + 10;
          if (h >= 'A' && h <= 'F') return h - 'A' + 10;
          return -1;
        };
        uint32_t r = 0;
        if (_pos < _p.size() && _p[_pos] == '{') {
          ++_pos;
          size_t digits = 0;
          while (_pos < _p.size() && hex(_p[_pos]) >= 0) {
            r = std::min<uint32_t>(r * 16 + uint32_t(hex(_p[_pos])), max_rune + 1);
            ++_pos, ++digits;
          }
          if (!digits || _pos >= _p.size() || _p[_pos] != '}' || r > max_rune)
            fail(fmt::format("invalid \\x{{...}} escape at offset {}", at));
          ++_pos;
          return r;
        }
        for (int i = 0; i < 2; ++i) {
          if (_pos >= _p.size() || hex(_p[_pos]) < 0) fail(fmt::format("invalid \\x escape at offset {}", at));
          r = r * 16 + uint32_t(hex(_p[_pos++]));
        }
        return r;
      }
      default: break;
    }
    if (x >= '1' && x <= '9') fail(fmt::format("back-references are not supported (offset {})", at));
    if ((x >= '0' && x <= '9') || (x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z'))
      fail(fmt::format("invalid or unsupported escape `\\{}` at offset {}", x, at));
    return rune();  // punctuation, or any non-ASCII character: itself
  }

  std::optional<size_t> escape(const flags& f) {
    ++_pos;
    if (_pos >= _p.size()) fail("trailing backslash at the end of the pattern");
    const char x = _p[_pos];
    if (auto set = class_escape(x)) {
      ++_pos;
      return chars(std::move(*set));
    }
    switch (x) {
      case 'b': ++_pos; return assert_node(assertion::word_boundary);
      case 'B': ++_pos; return assert_node(assertion::not_word_boundary);
      case 'A': ++_pos; return assert_node(assertion::begin_text);
      case 'z': ++_pos; return assert_node(assertion::end_text);
      case 'Q': {
        // \Q...\E: literal text up to \E or the end of the pattern.
        ++_pos;
        node n;
        n.kind = node::concat;
        while (_pos < _p.size() && !_p.substr(_pos).starts_with("\\E")) n.kids.push_back(literal(rune(), f));
        if (_pos < _p.size()) _pos += 2;
        if (n.kids.empty()) n.kind = node::empty;
        return add(std::move(n));
      }
      default: break;
    }
    return literal(escaped_rune(), f);
  }

  size_t char_class(const flags& f) {
    const size_t open = _pos++;
    bool negate = false;
    if (_pos < _p.size() && _p[_pos] == '^') {
      negate = true;
      ++_pos;
    }
    ranges set;
    bool first = true;
    // One class member that can end a range: a character or a single-character escape.
    const auto single = [&]() -> uint32_t {
      if (_p[_pos] == '\\') {
        ++_pos;
        return escaped_rune();
      }
      return rune();
    };
    for (;;) {
      if (_pos >= _p.size()) fail(fmt::format("missing ']' for the class at offset {}", open));
      const char c = _p[_pos];
      if (c == ']' && !first) {
        ++_pos;
        break;
      }
      first = false;
      if (c == '[' && _p.substr(_pos).starts_with("[:")) {
        const size_t close = _p.find(":]", _pos + 2);
        if (close == std::string_view::npos) fail(fmt::format("invalid POSIX class at offset {}", _pos));
        std::string_view name = _p.substr(_pos + 2, close - _pos - 2);
        const bool neg = name.starts_with("^");
        if (neg) name.remove_prefix(1);
        ranges posix = posix_class(name);
        if (posix.empty()) fail(fmt::format("unknown POSIX class `{}` at offset {}", name, _pos));
        if (neg) posix = complement(posix);
        set.insert(set.end(), posix.begin(), posix.end());
        _pos = close + 2;
        continue;
      }
      if (c == '\\' && _pos + 1 < _p.size()) {
        if (auto cls = class_escape(_p[_pos + 1])) {
          _pos += 2;
          set.insert(set.end(), cls->begin(), cls->end());
          continue;
        }
      }
      const uint32_t lo = single();
      uint32_t hi = lo;
      if (_pos + 1 < _p.size() && _p[_pos] == '-' && _p[_pos + 1] != ']') {
        ++_pos;
        hi = single();
        if (hi < lo) fail(fmt::format("invalid range in the class at offset {}", open));
      }
      set.push_back({lo, hi});
    }
    if (f.icase) fold(set);
    if (negate) set = complement(std::move(set));
    return chars(std::move(set));
  }

  static ranges posix_class(std::string_view name) {
    if (name == "alpha") return {{'A', 'Z'}, {'a', 'z'}};
    if (name == "digit") return digit_ranges;
    if (name == "alnum") return {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}};
    if (name == "upper") return {{'A', 'Z'}};
    if (name == "lower") return {{'a', 'z'}};
    if (name == "space") return space_ranges;
    if (name == "blank") return {{'\t', '\t'}, {' ', ' '}};
    if (name == "punct") return {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}};
    if (name == "xdigit") return {{'0', '9'}, {'A', 'F'}, {'a', 'f'}};
    if (name == "word") return word_ranges;
    if (name == "cntrl") return {{0, 0x1F}, {0x7F, 0x7F}};
    if (name == "graph") return {{'!', '~'}};
    if (name == "print") return {{' ', '~'}};
    if (name == "ascii") return {{0, 0x7F}};
    return {};
  }

  static constexpr size_t nesting_limit = regex::nesting_max;
  static constexpr size_t repeat_limit = regex::repeat_max;

  std::string_view _p;
  size_t _pos = 0;
};

}  // namespace

struct regex::program {
  enum class op : uint8_t { chars, match, jump, split, save, assert_ };
  struct inst {
    op code;
    assertion at = assertion::begin_text;
    uint32_t x = 0, y = 0;  // jump: x; split: x preferred, y; chars: set index; save: slot
  };
  std::vector<inst> code;
  std::vector<ranges> sets;
  size_t groups = 0;

  bool contains(uint32_t set, uint32_t r) const {
    const ranges& rs = sets[set];
    auto it = std::upper_bound(rs.begin(), rs.end(), r, [](uint32_t v, const range& x) { return v < x.lo; });
    return it != rs.begin() && r <= std::prev(it)->hi;
  }
};

namespace {

using program = regex::program;
using op = program::op;

class compiler {
 public:
  compiler(const std::vector<node>& nodes, program& p) : _n(nodes), _p(p) {}

  void emit(size_t at) {
    const node& n = _n[at];
    switch (n.kind) {
      case node::empty: return;
      case node::chars:
        _p.sets.push_back(n.set);
        add({op::chars, {}, uint32_t(_p.sets.size() - 1), 0});
        return;
      case node::assert_: add({op::assert_, n.at, 0, 0}); return;
      case node::concat:
        for (size_t k : n.kids) emit(k);
        return;
      case node::alternate: {
        // split L1, next; L1: a; jump end; next: split L2, ...; last alternative falls through.
        std::vector<size_t> jumps;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 < n.kids.size()) {
            const size_t split = add({op::split, {}, 0, 0});
            _p.code[split].x = here();
            emit(n.kids[i]);
            jumps.push_back(add({op::jump, {}, 0, 0}));
            _p.code[split].y = here();
          } else {
            emit(n.kids[i]);
          }
        }
        for (size_t j : jumps) _p.code[j].x = here();
        return;
      }
      case node::capture:
        add({op::save, {}, uint32_t(2 * n.group), 0});
        emit(n.kids[0]);
        add({op::save, {}, uint32_t(2 * n.group + 1), 0});
        return;
      case node::repeat: repeat(n); return;
    }
  }

 private:
  size_t here() const { return _p.code.size(); }

  size_t add(program::inst i) {
    if (_p.code.size() >= regex::program_max)
      throw parse_error{fmt::format("the pattern is too large: its repetitions expand past {} instructions", regex::program_max)};
    _p.code.push_back(i);
    return _p.code.size() - 1;
  }

  // A split that prefers entering the body when greedy, skipping it when lazy; the caller patches
  // `skip` once the body is emitted.
  void patch_split(size_t split, uint32_t body, uint32_t skip, bool greedy) {
    _p.code[split].x = greedy ? body : skip;
    _p.code[split].y = greedy ? skip : body;
  }

  void repeat(const node& n) {
    const size_t kid = n.kids[0];
    size_t copies = n.min;
    if (n.max == regex::npos) {
      if (copies > 0) {
        // x{n,}: n-1 copies, then x+.
        for (size_t i = 0; i + 1 < copies; ++i) emit(kid);
        const size_t body = here();
        emit(kid);
        const size_t split = add({op::split, {}, 0, 0});
        patch_split(split, uint32_t(body), uint32_t(here()), n.greedy);
      } else {
        // x*: L: split body, end; body: x; jump L; end:
        const size_t split = add({op::split, {}, 0, 0});
        const size_t body = here();
        emit(kid);
        add({op::jump, {}, uint32_t(split), 0});
        patch_split(split, uint32_t(body), uint32_t(here()), n.greedy);
      }
      return;
    }
    for (size_t i = 0; i < copies; ++i) emit(kid);
    // x{0,k} nested: (x(x(x)?)?)?; every skip goes to the end.
    std::vector<size_t> splits;
    for (size_t i = copies; i < n.max; ++i) {
      splits.push_back(add({op::split, {}, 0, 0}));
      const size_t body = here();
      emit(kid);
      _p.code[splits.back()].x = uint32_t(body);  // patched below with the end
    }
    for (size_t s : splits) patch_split(s, _p.code[s].x, uint32_t(here()), n.greedy);
  }

  const std::vector<node>& _n;
  program& _p;
};

// The Pike VM's run queue: threads in priority order, each a pc and its capture slots, with a
// per-pc mark so that a state enters a list once per position.
struct thread_list {
  std::vector<uint32_t> mark;
  uint32_t generation = 1;
  std::vector<uint32_t> pcs;
  std::vector<size_t> caps;  // pcs.size() * slots

  explicit thread_list(size_t program_size) : mark(program_size, 0) {}
  void clear() {
    pcs.clear();
    caps.clear();
    ++generation;
  }
};

class vm {
 public:
  vm(const program& p, std::string_view text, size_t slots)
      : _p(p), _t(text), _slots(slots), _a(p.code.size()), _b(p.code.size()), _cur(slots, regex::npos) {}

  // The capture slots of the leftmost-first match, or nullopt. `anchored`: only at `from`;
  // `to_end`: the match must end at the end of the text.
  std::optional<std::vector<size_t>> run(size_t from, bool anchored, bool to_end) {
    thread_list* clist = &_a;
    thread_list* nlist = &_b;
    const std::vector<size_t> none(_slots, regex::npos);
    std::optional<std::vector<size_t>> best;
    size_t pos = from;
    add(*clist, 0, pos, none.data());
    for (;;) {
      if (!best && !anchored && pos > from) add(*clist, 0, pos, none.data());
      if (clist->pcs.empty() && (best || anchored)) break;
      uint32_t r = 0;
      size_t len = 0;
      if (pos < _t.size()) std::tie(r, len) = decode(_t, pos);
      nlist->clear();
      for (size_t i = 0; i < clist->pcs.size(); ++i) {
        const program::inst& in = _p.code[clist->pcs[i]];
        const size_t* caps = _slots ? &clist->caps[i * _slots] : nullptr;
        if (in.code == op::match) {
          if (to_end && pos != _t.size()) continue;
          best.emplace(caps, caps + _slots);
          break;  // threads after this one have lower priority
        }
        if (pos < _t.size() && _p.contains(in.x, r)) add(*nlist, clist->pcs[i] + 1, pos + len, caps);
      }
      if (pos >= _t.size()) break;
      std::swap(clist, nlist);
      pos += len;
    }
    return best;
  }

 private:
  struct job {
    uint32_t pc;
    bool restore;
    uint32_t slot;
    size_t value;
  };

  // Follows jumps, splits, saves and assertions from `pc` at `pos` without recursion, appending
  // the threads that wait on a character (or match) in priority order.
  void add(thread_list& list, uint32_t pc, size_t pos, const size_t* caps) {
    std::copy(caps, caps + _slots, _cur.begin());
    _stack.clear();
    _stack.push_back({pc, false, 0, 0});
    while (!_stack.empty()) {
      const job j = _stack.back();
      _stack.pop_back();
      if (j.restore) {
        _cur[j.slot] = j.value;
        continue;
      }
      if (list.mark[j.pc] == list.generation) continue;
      list.mark[j.pc] = list.generation;
      const program::inst& in = _p.code[j.pc];
      switch (in.code) {
        case op::jump: _stack.push_back({in.x, false, 0, 0}); break;
        case op::split:
          _stack.push_back({in.y, false, 0, 0});
          _stack.push_back({in.x, false, 0, 0});
          break;
        case op::save:
          if (in.x < _slots) {
            _stack.push_back({0, true, in.x, _cur[in.x]});
            _cur[in.x] = pos;
          }
          _stack.push_back({j.pc + 1, false, 0, 0});
          break;
        case op::assert_:
          if (holds(in.at, _t, pos)) _stack.push_back({j.pc + 1, false, 0, 0});
          break;
        case op::chars:
        case op::match:
          list.pcs.push_back(j.pc);
          list.caps.insert(list.caps.end(), _cur.begin(), _cur.end());
          break;
      }
    }
  }

  const program& _p;
  std::string_view _t;
  size_t _slots;
  thread_list _a, _b;
  std::vector<size_t> _cur;
  std::vector<job> _stack;
};

}  // namespace

result<regex, std::string> regex::compile(std::string_view pattern) {
  try {
    parser ps(pattern);
    const size_t root = ps.parse();
    auto p = std::make_shared<program>();
    p->groups = ps.groups;
    compiler c(ps.nodes, *p);
    // The whole match is group 0.
    p->code.push_back({op::save, {}, 0, 0});
    c.emit(root);
    if (p->code.size() + 2 > program_max)
      throw parse_error{fmt::format("the pattern is too large: its repetitions expand past {} instructions", program_max)};
    p->code.push_back({op::save, {}, 1, 0});
    p->code.push_back({op::match, {}, 0, 0});
    return regex(std::move(p));
  } catch (const parse_error& e) {
    return failure{e.message};
  }
}

bool regex::full_match(std::string_view text) const {
  vm machine(*_p, text, 0);
  return machine.run(0, true, true).has_value();
}

std::optional<std::vector<regex::span>> regex::search(std::string_view text, size_t from) const {
  if (from > text.size()) return std::nullopt;
  const size_t slots = 2 * (_p->groups + 1);
  vm machine(*_p, text, slots);
  auto caps = machine.run(from, false, false);
  if (!caps) return std::nullopt;
  std::vector<span> out(_p->groups + 1);
  for (size_t g = 0; g <= _p->groups; ++g)
    if ((*caps)[2 * g] != npos && (*caps)[2 * g + 1] != npos) out[g] = {(*caps)[2 * g], (*caps)[2 * g + 1]};
  return out;
}

size_t regex::group_count() const { return _p->groups; }

}  // namespace gregor
