#pragma once
// Kafka's `sasl.jaas.config` values (JaasConfig): one or more entries
//   <login module class> <control flag> (<option>=<value>)* ;
// Values are unquoted words or "..." / '...' strings with Java escapes (\" \\ \n \t, octal);
// `//` and `/* */` comments; whitespace is any byte up to ' '. Used to read PLAIN users from
// `listener.name.<listener>.plain.sasl.jaas.config` as Kafka does.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"

namespace gregor::security {

struct jaas_entry {
  std::string login_module;
  std::string control_flag;  // lower case: required, requisite, sufficient or optional
  std::map<std::string, std::string> options;
};

// Errors use Kafka's wording plus the byte offset of the offending token, e.g.
// "JAAS config entry not terminated by semi-colon (at offset 57)". Stricter than Java's tokenizer
// in one way: an unterminated quoted value or /* comment is an error, not silently closed.
result<std::vector<jaas_entry>, std::string> parse_jaas_config(std::string_view text);

// A `sasl.jaas.config` property, which Kafka requires to hold exactly one login module
// (JaasContext): "JAAS config property contains 2 login modules, should be 1 module".
result<jaas_entry, std::string> parse_jaas_config_entry(std::string_view text);

// The PLAIN users of an entry: options `user_<name>="<password>"` → {name: password} (Kafka's
// PlainServerCallbackHandler). `username`/`password` (the broker's own client login) are not users.
std::map<std::string, std::string> plain_users(const jaas_entry& entry);

inline constexpr std::string_view plain_login_module = "org.apache.kafka.common.security.plain.PlainLoginModule";
inline constexpr std::string_view scram_login_module = "org.apache.kafka.common.security.scram.ScramLoginModule";

}  // namespace gregor::security
