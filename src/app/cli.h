#pragma once
// The admin CLI inside the gregor binary: `gregor topic|group|cluster|produce|consume ...`.
// Each command parses its own flags (cli_args), talks to a broker through client::client and
// prints tables (default) or JSON (--format json). Errors: one sentence on stderr, exit 1;
// usage errors exit 2.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gregor/client/client.h"

namespace gregor::app {

// Flags common to every command plus the command's own, parsed from argv after the subcommand.
struct cli_args {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> flags;  // "--name" → value ("" for switches)
  bool has(const std::string& f) const { return flags.count(f) != 0; }
  std::optional<std::string> get(const std::string& f) const;
  std::vector<std::string> all(const std::string& f) const;
};

// Parses args; `switches` are flags that take no value, `aliases` map short to long names.
// Returns an error sentence for unknown or incomplete flags.
std::optional<std::string> parse_cli_args(const std::vector<std::string>& in,
                                          const std::vector<std::string>& value_flags,
                                          const std::vector<std::string>& switches,
                                          cli_args& out);

// A result table: printed aligned, or as a JSON array of objects (numeric cells as numbers).
struct table {
  std::string name;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> text_columns;  // always JSON strings, even when they look numeric
};
void print_tables(const std::vector<table>& tables, bool json);
std::string json_string(std::string_view s);

// Thrown by commands for a one-sentence error; main prints it and exits 1.
struct cli_error {
  std::string message;
  int exit_code = 1;
};

// Connects to --bootstrap-server (or $GREGOR_BOOTSTRAP, or localhost:9092).
client::client& connect_client(const cli_args& a);

int cmd_cluster(const std::vector<std::string>& args);
int cmd_topic(const std::vector<std::string>& args);
int cmd_group(const std::vector<std::string>& args);
int cmd_produce(const std::vector<std::string>& args);
int cmd_consume(const std::vector<std::string>& args);

// Kafka's murmur2 partitioner for keyed records (the Java client's default).
int32_t murmur2_partition(std::string_view key, int32_t partitions);

}  // namespace gregor::app
