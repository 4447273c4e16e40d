// Shared pieces of the admin CLI: flag parsing, table/JSON output, the client connection.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "cli.h"

namespace gregor::app {

std::optional<std::string> cli_args::get(const std::string& f) const {
  auto it = flags.find(f);
  if (it == flags.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> cli_args::all(const std::string& f) const {
  std::vector<std::string> out;
  auto [b, e] = flags.equal_range(f);
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

std::optional<std::string> parse_cli_args(const std::vector<std::string>& in,
                                          const std::vector<std::string>& value_flags,
                                          const std::vector<std::string>& switches,
                                          cli_args& out) {
  static const std::map<std::string, std::string> aliases = {
      {"-b", "--bootstrap-server"}, {"--bootstrap-servers", "--bootstrap-server"},
      {"-p", "--partition"},        {"-o", "--offset"},
      {"-c", "--count"},            {"-e", "--exit"},
      {"-K", "--key-separator"},    {"-f", "--format"},
      {"-t", "--topic"},            {"-g", "--group"}};
  std::vector<std::string> values = value_flags;
  values.push_back("--bootstrap-server");
  values.push_back("--format");
  values.push_back("--timeout-ms");
  values.push_back("--client-id");
  for (size_t i = 0; i < in.size(); ++i) {
    std::string a = in[i];
    if (a.size() < 2 || a[0] != '-' || a == "--") {
      out.positional.push_back(a);
      continue;
    }
    std::optional<std::string> inline_value;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    if (auto al = aliases.find(a); al != aliases.end()) a = al->second;
    bool is_value = std::find(values.begin(), values.end(), a) != values.end();
    bool is_switch = std::find(switches.begin(), switches.end(), a) != switches.end();
    if (is_switch && !inline_value) {
      out.flags.emplace(a, "");
    } else if (is_value) {
      if (inline_value) {
        out.flags.emplace(a, *inline_value);
      } else if (i + 1 < in.size()) {
        out.flags.emplace(a, in[++i]);
      } else {
        return fmt::format("option '{}' needs a value", a);
      }
    } else {
      return fmt::format("unknown option '{}'", in[i]);
    }
  }
  if (auto f = out.get("--format"); f && *f != "table" && *f != "json")
    return fmt::format("--format must be 'table' or 'json', not '{}'", *f);
  return std::nullopt;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += char(c);
    }
  }
  out += '"';
  return out;
}

namespace {

bool looks_numeric(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  if (s[i] == '0' && s.size() > i + 1) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

std::string json_cell(const std::string& s) {
  if (looks_numeric(s) || s == "true" || s == "false") return s;
  return json_string(s);
}

std::string json_table(const table& t) {
  std::string out = "[";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    out += r ? ",\n  {" : "\n  {";
    for (size_t c = 0; c < t.columns.size() && c < t.rows[r].size(); ++c) {
      if (c) out += ", ";
      static const std::vector<std::string> always_text = {"topic", "name", "group", "host", "member_id",
                                                           "client_id", "cluster_id", "value", "key"};
      bool text = std::find(t.text_columns.begin(), t.text_columns.end(), t.columns[c]) != t.text_columns.end() ||
                  std::find(always_text.begin(), always_text.end(), t.columns[c]) != always_text.end();
      out += json_string(t.columns[c]) + ": " + (text ? json_string(t.rows[r][c]) : json_cell(t.rows[r][c]));
    }
    out += "}";
  }
  out += t.rows.empty() ? "]" : "\n]";
  return out;
}

}  // namespace

void print_tables(const std::vector<table>& tables, bool json) {
  if (json) {
    if (tables.size() == 1) {
      std::printf("%s\n", json_table(tables[0]).c_str());
      return;
    }
    std::string out = "{";
    for (size_t i = 0; i < tables.size(); ++i) {
      if (i) out += ",";
      out += "\n" + json_string(tables[i].name) + ": " + json_table(tables[i]);
    }
    out += "\n}";
    std::printf("%s\n", out.c_str());
    return;
  }
  bool first = true;
  for (const auto& t : tables) {
    if (!first) std::printf("\n");
    first = false;
    if (tables.size() > 1 && !t.name.empty()) std::printf("%s:\n", t.name.c_str());
    std::vector<size_t> width(t.columns.size());
    for (size_t c = 0; c < t.columns.size(); ++c) width[c] = t.columns[c].size();
    for (const auto& row : t.rows)
      for (size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
    auto line = [&](const std::vector<std::string>& cells) {
      std::string s;
      for (size_t c = 0; c < t.columns.size(); ++c) {
        std::string cell = c < cells.size() ? cells[c] : "";
        if (c + 1 < t.columns.size()) s += fmt::format("{:<{}}  ", cell, width[c]);
        else s += cell;
      }
      while (!s.empty() && s.back() == ' ') s.pop_back();
      std::printf("%s\n", s.c_str());
    };
    std::vector<std::string> header;
    for (const auto& c : t.columns) {
      std::string u = c;
      for (auto& ch : u) ch = char(std::toupper(static_cast<unsigned char>(ch)));
      header.push_back(u);
    }
    line(header);
    for (const auto& row : t.rows) line(row);
  }
}

client::client& connect_client(const cli_args& a) {
  static std::unique_ptr<client::client> c;
  if (c) return *c;
  client::options o;
  if (auto id = a.get("--client-id")) o.client_id = *id;
  if (auto t = a.get("--timeout-ms")) {
    char* end = nullptr;
    long v = std::strtol(t->c_str(), &end, 10);
    if (!end || *end || v <= 0) throw cli_error{fmt::format("--timeout-ms must be a positive integer, not '{}'", *t), 2};
    o.timeout_ms = int32_t(v);
  }
  std::string bootstrap = "localhost:9092";
  if (const char* env = std::getenv("GREGOR_BOOTSTRAP"); env && *env) bootstrap = env;
  if (auto b = a.get("--bootstrap-server")) bootstrap = *b;
  c = std::make_unique<client::client>(o);
  if (auto r = c->connect(bootstrap); !r) throw cli_error{r.error()};
  return *c;
}

int32_t murmur2_partition(std::string_view key, int32_t partitions) {
  // Kafka's Utils.murmur2 with seed 0x9747b28c, then toPositive (& 0x7fffffff) % partitions.
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const size_t len = key.size();
  uint32_t h = 0x9747b28c ^ uint32_t(len);
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  size_t len4 = len / 4;
  for (size_t i = 0; i < len4; ++i) {
    size_t i4 = i * 4;
    uint32_t k = uint32_t(data[i4]) | uint32_t(data[i4 + 1]) << 8 | uint32_t(data[i4 + 2]) << 16 |
                 uint32_t(data[i4 + 3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  size_t rest = len % 4;
  size_t base = len & ~size_t(3);
  if (rest == 3) h ^= uint32_t(data[base + 2]) << 16;
  if (rest >= 2) h ^= uint32_t(data[base + 1]) << 8;
  if (rest >= 1) {
    h ^= uint32_t(data[base]);
    h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return int32_t((h & 0x7fffffff) % uint32_t(partitions));
}

}  // namespace gregor::app
