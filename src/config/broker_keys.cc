#include "broker_keys.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "parse.h"

namespace gregor::config::detail {
namespace {

constexpr int64_t k_no_min = std::numeric_limits<int64_t>::min();
constexpr int64_t k_no_max = std::numeric_limits<int64_t>::max();

template <class T>
int8_t int_type() {
  if constexpr (sizeof(T) == 2) return config_type::short_;
  else if constexpr (sizeof(T) == 4) return config_type::int_;
  else return config_type::long_;
}

template <class T>
broker_key int_key(std::string name, T broker_config::*member, int64_t min, int64_t max, std::string doc) {
  broker_key k;
  k.name = std::move(name);
  k.type = int_type<T>();
  k.doc = std::move(doc);
  k.set = [member, min, max](broker_config& b, std::string_view text) -> std::string {
    int64_t v = 0;
    const int64_t lo = std::max<int64_t>(min, std::numeric_limits<T>::min());
    const int64_t hi = std::min<int64_t>(max, std::numeric_limits<T>::max());
    const bool parsed = parse_int64(text, v);
    if (!parsed || v < lo || v > hi) {
      // Name the bounds the operator can act on: the key's own, or the field's width when the
      // value overflowed it.
      if (parsed && (v > std::numeric_limits<T>::max() || v < std::numeric_limits<T>::min())) return int_range_phrase(lo, hi);
      return int_range_phrase(min, max);
    }
    b.*member = static_cast<T>(v);
    return "";
  };
  k.get = [member](const broker_config& b) { return std::to_string(b.*member); };
  return k;
}

// A key in a coarser unit feeding an int64 millisecond field (log.retention.hours → log_retention_ms).
broker_key scaled_key(std::string name, int64_t broker_config::*member, int64_t factor, int64_t min,
                      std::optional<std::string> default_text, std::string doc) {
  broker_key k;
  k.name = name;
  k.type = config_type::int_;
  k.doc = std::move(doc);
  k.null_default = !default_text.has_value();
  k.set = [member, factor, min](broker_config& b, std::string_view text) -> std::string {
    int64_t v = 0;
    const int64_t max = std::numeric_limits<int32_t>::max();
    if (!parse_int64(text, v) || v < min || v > max) return int_range_phrase(min, max);
    b.*member = (v < 0) ? v : v * factor;  // -1 keeps its meaning ("forever") in any unit
    return "";
  };
  k.get = [name, default_text](const broker_config& b) -> std::string {
    auto it = b.explicit_values.find(name);
    if (it != b.explicit_values.end()) return it->second;
    return default_text.value_or("");
  };
  return k;
}

broker_key bool_key(std::string name, bool broker_config::*member, std::string doc) {
  broker_key k;
  k.name = std::move(name);
  k.type = config_type::boolean;
  k.doc = std::move(doc);
  k.set = [member](broker_config& b, std::string_view text) -> std::string {
    bool v = false;
    if (!parse_bool(text, v)) return "true or false";
    b.*member = v;
    return "";
  };
  k.get = [member](const broker_config& b) -> std::string { return b.*member ? "true" : "false"; };
  return k;
}

broker_key double_key(std::string name, double broker_config::*member, double min, double max, std::string doc) {
  broker_key k;
  k.name = std::move(name);
  k.type = config_type::double_;
  k.doc = std::move(doc);
  k.set = [member, min, max](broker_config& b, std::string_view text) -> std::string {
    double v = 0;
    if (!parse_double(text, v) || v < min || v > max) return fmt::format("a number between {} and {}", min, max);
    b.*member = v;
    return "";
  };
  k.get = [member](const broker_config& b) { return fmt::format("{}", b.*member); };
  return k;
}

std::string one_of_phrase(const std::vector<std::string>& allowed) {
  return "one of " + join_list(allowed);
}

// A string, optionally restricted to `allowed` (exact, case-sensitive, as Kafka's ValidString).
broker_key string_key(std::string name, std::string broker_config::*member, std::vector<std::string> allowed,
                      std::string doc, int8_t type = config_type::string) {
  broker_key k;
  k.name = std::move(name);
  k.type = type;
  k.doc = std::move(doc);
  k.set = [member, allowed](broker_config& b, std::string_view text) -> std::string {
    std::string v(trim(text));
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      return one_of_phrase(allowed);
    b.*member = v;
    return "";
  };
  k.get = [member](const broker_config& b) { return b.*member; };
  return k;
}

// A key kept only as text in broker_config::explicit_values (read back per listener with
// listener_value(): the ssl.* keys). `allowed` (compared upper-cased when `upper`) restricts a
// single value; `list_allowed` restricts every item of a comma-separated list.
broker_key text_key(std::string name, std::optional<std::string> default_text, std::vector<std::string> allowed,
                    bool is_list, int8_t type, bool sensitive, std::string doc) {
  broker_key k;
  k.name = name;
  k.type = type;
  k.doc = std::move(doc);
  k.sensitive = sensitive;
  k.null_default = !default_text.has_value();
  k.set = [allowed, is_list](broker_config&, std::string_view text) -> std::string {
    if (allowed.empty()) return "";
    std::vector<std::string> items = is_list ? split_list(text) : std::vector<std::string>{std::string(trim(text))};
    for (const auto& item : items)
      if (std::find(allowed.begin(), allowed.end(), item) == allowed.end())
        return is_list ? "a comma-separated list of " + join_list(allowed) : one_of_phrase(allowed);
    return "";
  };
  k.get = [name, default_text](const broker_config& b) -> std::string {
    auto it = b.explicit_values.find(name);
    if (it != b.explicit_values.end()) return it->second;
    return default_text.value_or("");
  };
  return k;
}

// A comma-separated list (or YAML sequence), each item optionally restricted to `allowed`.
broker_key list_key(std::string name, std::vector<std::string> broker_config::*member,
                    std::vector<std::string> allowed, bool non_empty, std::string doc) {
  broker_key k;
  k.name = std::move(name);
  k.type = config_type::list;
  k.doc = std::move(doc);
  k.set = [member, allowed, non_empty](broker_config& b, std::string_view text) -> std::string {
    std::vector<std::string> items = split_list(text);
    const std::string form = allowed.empty() ? std::string("a comma-separated list")
                                             : "a comma-separated list of " + join_list(allowed);
    if (non_empty && items.empty()) return form + " with at least one item";
    for (const auto& item : items)
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), item) == allowed.end()) return form;
    b.*member = std::move(items);
    return "";
  };
  k.get = [member](const broker_config& b) { return join_list(b.*member); };
  return k;
}

std::string print_listeners(const std::vector<listener>& ls) {
  std::vector<std::string> items;
  for (const auto& l : ls) {
    const bool v6 = l.host.find(':') != std::string::npos;
    items.push_back(fmt::format("{}://{}{}{}:{}", l.name, v6 ? "[" : "", l.host, v6 ? "]" : "", l.port));
  }
  return join_list(items);
}

broker_key listeners_key(std::string name, std::vector<listener> broker_config::*member, std::string doc) {
  broker_key k;
  k.name = std::move(name);
  k.type = config_type::list;
  k.doc = std::move(doc);
  k.set = [member](broker_config& b, std::string_view text) -> std::string {
    std::vector<listener> out;
    for (const auto& item : split_list(text)) {
      listener l;
      std::string why = parse_listener(item, l);
      if (!why.empty()) return fmt::format("a comma-separated list of NAME://host:port ({})", why);
      for (const auto& prev : out)
        if (prev.name == l.name)
          return fmt::format("a comma-separated list of NAME://host:port (listener name '{}' appears twice)", l.name);
      out.push_back(std::move(l));
    }
    if (out.empty()) return "a comma-separated list of NAME://host:port with at least one listener";
    b.*member = std::move(out);
    return "";
  };
  k.get = [member](const broker_config& b) { return print_listeners(b.*member); };
  return k;
}

broker_key node_id_key(std::string name, std::string doc) {
  broker_key k;
  k.name = std::move(name);
  k.type = config_type::int_;
  k.doc = std::move(doc);
  k.set = [](broker_config& b, std::string_view text) -> std::string {
    int64_t v = 0;
    if (!parse_int64(text, v) || v < 0 || v > std::numeric_limits<int32_t>::max())
      return int_range_phrase(0, std::numeric_limits<int32_t>::max());
    b.node_id = node_id(static_cast<int32_t>(v));
    return "";
  };
  k.get = [](const broker_config& b) { return std::to_string(b.node_id.value()); };
  return k;
}

std::vector<broker_key> build_table() {
  using B = broker_config;
  std::vector<broker_key> t;
  const std::vector<std::string> compression{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"};

  // identity and cluster
  t.push_back(node_id_key("broker.id", "Legacy name of node.id; both must agree when both are set."));
  {
    broker_key k = node_id_key("node.id", "The node id of this broker, unique in the cluster.");
    k.default_synonym = false;
    t.push_back(std::move(k));
  }
  {
    broker_key k = string_key("cluster.id", &B::cluster_id, {}, "The cluster id; generated and persisted in meta.properties when empty.");
    t.push_back(std::move(k));
  }
  {
    broker_key k;
    k.name = "broker.rack";
    k.type = config_type::string;
    k.doc = "Rack of the broker, for rack-aware replica assignment.";
    k.null_default = true;
    k.set = [](B& b, std::string_view text) -> std::string {
      std::string v(trim(text));
      b.broker_rack = v.empty() ? std::nullopt : std::optional<std::string>(v);
      return "";
    };
    k.get = [](const B& b) { return b.broker_rack.value_or(""); };
    t.push_back(std::move(k));
  }
  {
    broker_key k = list_key("process.roles", &B::process_roles, {"broker", "controller"}, false, "The roles this process plays: broker, controller or both.");
    k.default_synonym = false;
    t.push_back(std::move(k));
  }
  t.push_back(list_key("controller.quorum.voters", &B::controller_quorum_voters, {}, false, "The controller quorum's voters as id@host:port,...; empty on a controller = this node alone."));
  t.push_back(list_key("controller.quorum.bootstrap.servers", &B::controller_quorum_bootstrap_servers, {}, false, "host:port of controllers to discover the quorum from (instead of controller.quorum.voters)."));
  t.push_back(int_key("controller.quorum.election.timeout.ms", &B::controller_quorum_election_timeout_ms, 1, k_no_max, "Time without a leader before a voter starts an election."));
  t.push_back(int_key("controller.quorum.fetch.timeout.ms", &B::controller_quorum_fetch_timeout_ms, 1, k_no_max, "Time without a successful fetch before a voter starts an election, and a leader without fetches from a majority resigns."));
  t.push_back(int_key("controller.quorum.election.backoff.max.ms", &B::controller_quorum_election_backoff_max_ms, 1, k_no_max, "Maximum back-off before a new election."));
  t.push_back(int_key("controller.quorum.request.timeout.ms", &B::controller_quorum_request_timeout_ms, 1, k_no_max, "Timeout of one quorum request."));
  t.push_back(int_key("controller.quorum.retry.backoff.ms", &B::controller_quorum_retry_backoff_ms, 0, k_no_max, "Back-off before retrying a failed quorum request."));
  t.push_back(int_key("metadata.max.retention.ms", &B::metadata_max_retention_ms, -1, k_no_max, "Age after which metadata log segments covered by a snapshot are deleted."));
  t.push_back(int_key("metadata.log.max.snapshot.interval.ms", &B::metadata_log_max_snapshot_interval_ms, 0, k_no_max, "Time after which a new metadata snapshot is written if the log has new records."));
  t.push_back(int_key("metadata.log.max.record.bytes.between.snapshots", &B::metadata_log_max_record_bytes_between_snapshots, 1, k_no_max, "Bytes of new metadata records after which a snapshot is written."));
  t.push_back(list_key("controller.listener.names", &B::controller_listener_names, {}, false, "Listener names used by the controller."));
  {
    broker_key k = string_key("metadata.log.dir", &B::metadata_log_dir, {}, "Directory of the cluster metadata log; empty = the first log dir.");
    k.null_default = true;  // Kafka's default is null
    t.push_back(std::move(k));
  }

  // network
  t.push_back(listeners_key("listeners", &B::listeners, "Listeners as NAME://host:port; an empty host binds every interface."));
  t.push_back(listeners_key("advertised.listeners", &B::advertised_listeners, "Listeners published to clients; default: listeners with 0.0.0.0 replaced by localhost."));
  t.push_back(string_key("listener.security.protocol.map", &B::listener_security_protocol_map, {}, "Map of listener name to security protocol, NAME:PROTOCOL,... (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)."));
  t.push_back(string_key("inter.broker.listener.name", &B::inter_broker_listener_name, {}, "Listener brokers use to reach each other; default: the first non-controller listener."));
  t.push_back(int_key("socket.request.max.bytes", &B::socket_request_max_bytes, 1, k_no_max, "The maximum size of a request in bytes."));
  t.push_back(int_key("socket.send.buffer.bytes", &B::socket_send_buffer_bytes, -1, k_no_max, "SO_SNDBUF of sockets; -1 uses the OS default."));
  t.push_back(int_key("socket.receive.buffer.bytes", &B::socket_receive_buffer_bytes, -1, k_no_max, "SO_RCVBUF of sockets; -1 uses the OS default."));
  t.push_back(int_key("socket.listen.backlog.size", &B::socket_listen_backlog_size, 1, k_no_max, "Backlog of pending connections per listener."));
  t.push_back(int_key("connections.max.idle.ms", &B::connections_max_idle_ms, k_no_min, k_no_max, "Idle connections are closed after this many milliseconds."));
  t.push_back(int_key("max.connections", &B::max_connections, 0, k_no_max, "The maximum number of connections the broker accepts."));
  t.push_back(int_key("max.connections.per.ip", &B::max_connections_per_ip, 0, k_no_max, "The maximum number of connections from one IP address."));
  {
    broker_key k = string_key("max.connections.per.ip.overrides", &B::max_connections_per_ip_overrides, {}, "Per-IP or host name overrides of max.connections.per.ip, host:count,...");
    auto base_set = k.set;
    k.set = [base_set](B& b, std::string_view text) -> std::string {
      for (const auto& item : split_list(text)) {
        const auto colon = item.rfind(':');
        int64_t n = -1;
        if (colon != std::string::npos && colon > 0) {
          const std::string count = item.substr(colon + 1);
          auto [p, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
          if (ec != std::errc() || p != count.data() + count.size()) n = -1;
        }
        if (n < 0 || n > INT32_MAX) return fmt::format("a comma-separated list of host:count ('{}' is not)", item);
      }
      return base_set(b, text);
    };
    t.push_back(std::move(k));
  }
  t.push_back(int_key("max.connection.creation.rate", &B::max_connection_creation_rate, 0, k_no_max, "New connections per second the broker accepts; more wait (the acceptor is throttled)."));
  t.push_back(int_key("quota.window.num", &B::quota_window_num, 1, k_no_max, "Samples kept for client quotas (and connection creation rates)."));
  t.push_back(int_key("quota.window.size.seconds", &B::quota_window_size_seconds, 1, k_no_max, "Length of one client quota sample in seconds."));
  t.push_back(int_key("controller.quota.window.num", &B::controller_quota_window_num, 1, k_no_max, "Samples of controller mutation quotas (the token bucket holds rate x num x size seconds)."));
  t.push_back(int_key("controller.quota.window.size.seconds", &B::controller_quota_window_size_seconds, 1, k_no_max, "Length of one controller mutation quota sample in seconds."));
  t.push_back(int_key("queued.max.requests", &B::queued_max_requests, 1, k_no_max, "Requests queued before the network threads stop reading."));
  t.push_back(int_key("queued.max.request.bytes", &B::queued_max_request_bytes, -1, k_no_max, "Bytes of requests read and not yet answered (all connections) before reading stops; -1 = Gregor's default pool of 256 MiB."));
  t.push_back(int_key("socket.partial.request.timeout.ms", &B::socket_partial_request_timeout_ms, 1, k_no_max, "Gregor: a request (or TLS handshake) whose first byte arrived must be complete within this many milliseconds, or the connection is closed."));
  t.push_back(int_key("num.network.threads", &B::num_network_threads, 0, k_no_max, "Threads for the connections' socket I/O beside the io thread (at most the cores less one; 0 = on the io thread)."));
  t.push_back(int_key("num.io.threads", &B::num_io_threads, 1, k_no_max, "Request handler threads (accepted for compatibility)."));
  t.push_back(int_key("request.timeout.ms", &B::request_timeout_ms, 0, k_no_max, "Timeout of broker-side requests in milliseconds."));
  {
    broker_key k = list_key("http.listeners", &B::http_listeners, {}, false, "Gregor: HTTP admin listeners (metrics, health) as http://host:port; empty = none.");
    auto base_set = k.set;
    k.set = [base_set](B& b, std::string_view text) -> std::string {
      for (const auto& item : split_list(text)) {
        listener l;
        std::string why = parse_listener(item, l);
        if (why.empty() && lower(l.name) != "http") why = fmt::format("'{}' is not http://", item);
        if (!why.empty()) return fmt::format("a comma-separated list of http://host:port ({})", why);
      }
      return base_set(b, text);
    };
    t.push_back(std::move(k));
  }

  // security
  t.push_back(list_key("sasl.enabled.mechanisms", &B::sasl_enabled_mechanisms, {}, false, "SASL mechanisms served on SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER."));
  // OAUTHBEARER validation (OAuthBearerValidatorCallbackHandler), overridable per listener; read
  // with listener_value() by server/oauthbearer_validators.cc.
  {
    using config_type::string;
    using config_type::list;
    t.push_back(text_key("sasl.oauthbearer.jwks.endpoint.url", std::nullopt, {}, false, string, false, "The JWKS whose keys verify OAUTHBEARER tokens: a file: URL (re-read when the file changes) or an http(s) URL (fetched at start, refreshed every sasl.oauthbearer.jwks.endpoint.refresh.ms and when a token names an unknown key id)."));
    t.push_back(text_key("sasl.oauthbearer.expected.audience", "", {}, true, list, false, "Audiences a token's aud claim must contain one of (comma-separated)."));
    t.push_back(text_key("sasl.oauthbearer.expected.issuer", std::nullopt, {}, false, string, false, "The issuer a token's iss claim must equal."));
    t.push_back(text_key("sasl.oauthbearer.sub.claim.name", "sub", {}, false, string, false, "The claim whose value is the principal name (User:<value>)."));
    t.push_back(text_key("sasl.oauthbearer.scope.claim.name", "scope", {}, false, string, false, "The claim holding the token's scopes."));
    broker_key skew = text_key("sasl.oauthbearer.clock.skew.seconds", "30", {}, false, config_type::int_, false, "Leeway in seconds for the exp and nbf claims.");
    skew.set = [](B&, std::string_view text) -> std::string {
      const std::string v(trim(text));
      char* end = nullptr;
      errno = 0;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno == ERANGE || n < 0 || n > 2147483647) return "an integer >= 0";
      return "";
    };
    t.push_back(std::move(skew));
    t.push_back(text_key("sasl.oauthbearer.jwks.endpoint.refresh.ms", "3600000", {}, false, config_type::long_, false, "How often an http(s) JWKS is fetched again (a file: JWKS is re-read when the file changes)."));
    t.push_back(text_key("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", "100", {}, false, config_type::long_, false, "The first wait before retrying a failed http(s) JWKS fetch; it doubles at each retry."));
    t.push_back(text_key("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", "10000", {}, false, config_type::long_, false, "How long a failed http(s) JWKS fetch is retried in all."));
  }
  t.push_back(string_key("sasl.mechanism.inter.broker.protocol", &B::sasl_mechanism_inter_broker_protocol, {}, "SASL mechanism brokers use towards each other on a SASL inter-broker listener."));
  t.push_back(string_key("sasl.mechanism.controller.protocol", &B::sasl_mechanism_controller_protocol, {}, "SASL mechanism used towards the controllers on a SASL controller listener."));
  t.push_back(int_key("sasl.server.max.receive.size", &B::sasl_server_max_receive_size, 1, k_no_max, "The largest frame accepted before authentication completes."));
  t.push_back(int_key("connections.max.reauth.ms", &B::connections_max_reauth_ms, 0, k_no_max, "Session lifetime of SASL connections (KIP-368); 0 = unlimited."));
  t.push_back(string_key("authorizer.class.name", &B::authorizer_class_name, {}, "org.apache.kafka.metadata.authorizer.StandardAuthorizer turns on ACLs; empty = no authorization."));
  t.push_back(string_key("super.users", &B::super_users, {}, "Principals allowed every operation, separated by ';' (User:admin;User:broker)."));
  t.push_back(bool_key("allow.everyone.if.no.acl.found", &B::allow_everyone_if_no_acl_found, "Allow an operation on a resource that has no ACL at all."));
  {
    broker_key k = string_key("principal.builder.class", &B::principal_builder_class, {}, "Accepted for compatibility; Gregor builds principals as Kafka's default builder does.");
    // Unset, it is described by the name of Kafka's default class, whose behaviour Gregor has.
    k.get = [](const broker_config& b) {
      return b.principal_builder_class.empty()
                 ? std::string("org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder")
                 : b.principal_builder_class;
    };
    t.push_back(std::move(k));
  }

  // ssl (all overridable per listener: listener.name.<listener>.ssl.*; read by server/broker.cc)
  {
    using config_type::password;
    using config_type::string;
    using config_type::list;
    using config_type::boolean;
    t.push_back(text_key("ssl.keystore.type", "JKS", {"JKS", "PKCS12", "PEM"}, false, string, false, "Format of the key store: PKCS12 or PEM (JKS is not supported; convert it with keytool -importkeystore -deststoretype PKCS12). Unset: detected from the file."));
    t.push_back(text_key("ssl.keystore.location", std::nullopt, {}, false, string, false, "File of the broker's certificate and private key (PKCS12, or PEM with the key and the certificate chain)."));
    t.push_back(text_key("ssl.keystore.password", std::nullopt, {}, false, password, true, "Password of the key store file (PKCS12)."));
    t.push_back(text_key("ssl.key.password", std::nullopt, {}, false, password, true, "Password of the private key (an encrypted PEM key, or a PKCS12 key with its own password)."));
    t.push_back(text_key("ssl.keystore.certificate.chain", std::nullopt, {}, false, password, true, "The certificate chain in PEM, inline (ssl.keystore.type=PEM)."));
    t.push_back(text_key("ssl.keystore.key", std::nullopt, {}, false, password, true, "The private key in PEM, inline (ssl.keystore.type=PEM)."));
    t.push_back(text_key("ssl.truststore.type", "JKS", {"JKS", "PKCS12", "PEM"}, false, string, false, "Format of the trust store: PKCS12 or PEM (JKS is not supported). Unset: detected from the file."));
    t.push_back(text_key("ssl.truststore.location", std::nullopt, {}, false, string, false, "File of the CA certificates trusted for client certificates (PKCS12 or PEM)."));
    t.push_back(text_key("ssl.truststore.password", std::nullopt, {}, false, password, true, "Password of the trust store file (PKCS12)."));
    t.push_back(text_key("ssl.truststore.certificates", std::nullopt, {}, false, password, true, "Trusted CA certificates in PEM, inline (ssl.truststore.type=PEM)."));
    t.push_back(text_key("ssl.client.auth", "none", {"none", "requested", "required"}, false, string, false, "Client certificates: none, requested (verified when sent) or required."));
    t.push_back(text_key("ssl.enabled.protocols", "TLSv1.2,TLSv1.3", {"TLSv1.2", "TLSv1.3"}, true, list, false, "TLS versions served."));
    t.push_back(text_key("ssl.protocol", "TLSv1.3", {"TLS", "TLSv1.2", "TLSv1.3"}, false, string, false, "Accepted for compatibility; ssl.enabled.protocols decides the versions."));
    t.push_back(text_key("ssl.cipher.suites", "", {}, true, list, false, "Cipher suites by their standard names (TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, ...); empty = OpenSSL's defaults."));
    t.push_back(text_key("ssl.endpoint.identification.algorithm", "https", {}, false, string, false, "Host name verification of the server certificate by clients (https) or none (empty); the broker's own outgoing connections follow it."));
    t.push_back(text_key("ssl.allow.dn.changes", "false", {"true", "false"}, false, boolean, false, "Whether a key store updated at runtime (AlterConfigs of listener.name.<listener>.ssl.keystore.*) may carry a certificate with another subject than the current one."));
    t.push_back(text_key("ssl.allow.san.changes", "false", {"true", "false"}, false, boolean, false, "Whether a key store updated at runtime may drop subject alternative names of the current certificate."));
    t.push_back(text_key("ssl.principal.mapping.rules", "DEFAULT", {}, false, string, false, "Rules mapping a client certificate's distinguished name to a principal name (as Kafka's)."));
  }

  // topics and log
  t.push_back(list_key("log.dir", &B::log_dirs, {}, true, "The directory for log data (log.dirs wins when both are set)."));
  t.push_back(list_key("log.dirs", &B::log_dirs, {}, true, "Comma-separated directories for log data."));
  t.push_back(int_key("num.partitions", &B::num_partitions, 1, k_no_max, "Default number of partitions of a new topic."));
  t.push_back(int_key("default.replication.factor", &B::default_replication_factor, 1, k_no_max, "Default replication factor of a new topic."));
  t.push_back(bool_key("auto.create.topics.enable", &B::auto_create_topics_enable, "Create a topic when a client asks for its metadata."));
  t.push_back(bool_key("delete.topic.enable", &B::delete_topic_enable, "Allow deleting topics."));
  t.push_back(int_key("message.max.bytes", &B::message_max_bytes, 0, k_no_max, "The largest record batch size the broker accepts."));
  t.push_back(int_key("log.segment.bytes", &B::log_segment_bytes, 1024 * 1024, std::numeric_limits<int32_t>::max(), "The maximum size of a single log segment file."));
  t.push_back(scaled_key("log.roll.hours", &B::log_roll_ms, 3600000, 1, "168", "Segment roll time in hours (log.roll.ms wins)."));
  { broker_key k = int_key("log.roll.ms", &B::log_roll_ms, 1, k_no_max, "Segment roll time in milliseconds."); k.null_default = true; t.push_back(std::move(k)); }
  t.push_back(scaled_key("log.roll.jitter.hours", &B::log_roll_jitter_ms, 3600000, 0, "0", "Maximum jitter subtracted from the roll time, in hours."));
  { broker_key k = int_key("log.roll.jitter.ms", &B::log_roll_jitter_ms, 0, k_no_max, "Maximum jitter subtracted from the roll time, in milliseconds."); k.null_default = true; t.push_back(std::move(k)); }
  t.push_back(int_key("log.index.interval.bytes", &B::log_index_interval_bytes, 0, k_no_max, "Bytes between offset index entries."));
  t.push_back(int_key("log.index.size.max.bytes", &B::log_index_size_max_bytes, 4, k_no_max, "The maximum size of an offset index in bytes."));
  t.push_back(scaled_key("log.retention.hours", &B::log_retention_ms, 3600000, -1, "168", "Retention time in hours (log.retention.ms and .minutes win)."));
  t.push_back(scaled_key("log.retention.minutes", &B::log_retention_ms, 60000, -1, std::nullopt, "Retention time in minutes (log.retention.ms wins)."));
  { broker_key k = int_key("log.retention.ms", &B::log_retention_ms, -1, k_no_max, "Retention time in milliseconds; -1 = forever."); k.null_default = true; t.push_back(std::move(k)); }
  t.push_back(int_key("log.retention.bytes", &B::log_retention_bytes, k_no_min, k_no_max, "Retention size per partition in bytes; -1 = unlimited."));
  t.push_back(int_key("log.retention.check.interval.ms", &B::log_retention_check_interval_ms, 1, k_no_max, "How often retention is enforced, in milliseconds."));
  t.push_back(int_key("log.local.retention.ms", &B::log_local_retention_ms, -2, k_no_max, "Local retention with tiered storage; -2 = retention.ms."));
  t.push_back(int_key("log.local.retention.bytes", &B::log_local_retention_bytes, -2, k_no_max, "Local retention with tiered storage; -2 = retention.bytes."));
  t.push_back(int_key("log.flush.interval.messages", &B::log_flush_interval_messages, 1, k_no_max, "Messages appended before an fsync."));
  { broker_key k = int_key("log.flush.interval.ms", &B::log_flush_interval_ms, -1, k_no_max, "Milliseconds a message may stay unflushed; unset = log.flush.scheduler.interval.ms."); k.null_default = true; t.push_back(std::move(k)); }
  t.push_back(int_key("log.flush.scheduler.interval.ms", &B::log_flush_scheduler_interval_ms, k_no_min, k_no_max, "How often the flusher checks for logs to flush."));
  t.push_back(int_key("log.flush.offset.checkpoint.interval.ms", &B::log_flush_offset_checkpoint_interval_ms, 0, k_no_max, "How often the recovery point is checkpointed."));
  t.push_back(int_key("log.segment.delete.delay.ms", &B::log_segment_delete_delay_ms, 0, k_no_max, "Delay before a deleted segment's files are removed."));
  t.push_back(bool_key("log.preallocate", &B::log_preallocate, "Preallocate segment files."));
  t.push_back(bool_key("log.direct.io", &B::log_direct_io, "Gregor: read and append log segments with O_DIRECT, bypassing the page cache."));
  t.push_back(int_key("log.async.writes.max.bytes", &B::log_async_writes_max_bytes, 0, k_no_max, "Gregor: appends are written to the segment files by one disk thread per log directory, so the network thread never waits on the device; this bounds the appended bytes that thread may hold unwritten (producers wait when it is reached). acks=1 answers once the records are written. 0 writes on the network thread."));
  t.push_back(int_key("log.tail.cache.max.bytes", &B::log_tail_cache_max_bytes, 0, k_no_max, "Gregor: memory, in bytes, for the most recently appended log data across all partitions; consumers and followers reading it never touch the device. 0 disables the cache."));
  t.push_back(int_key("log.readahead.max.bytes", &B::log_readahead_max_bytes, 0, k_no_max, "Gregor: memory, in bytes, for the read buffers of direct-I/O segments: a consumer or follower reading data older than the tail cache has its next read done by a background thread into these buffers while its last response is sent. Reads that find them all in use go to the device themselves. 0 turns readahead off."));
  {
    broker_key k;
    k.name = "log.cleanup.policy";
    k.type = config_type::list;
    k.doc = "Default cleanup policy of segments past retention: delete, compact or both.";
    k.set = [](B& b, std::string_view text) -> std::string {
      std::string why = check_cleanup_policy(text);
      if (!why.empty()) return why;
      b.log_cleanup_policy = join_list(split_list(text));
      return "";
    };
    k.get = [](const B& b) { return b.log_cleanup_policy; };
    t.push_back(std::move(k));
  }
  t.push_back(string_key("log.message.timestamp.type", &B::log_message_timestamp_type, {"CreateTime", "LogAppendTime"}, "Whether record timestamps are the producer's (CreateTime) or the broker's (LogAppendTime)."));
  t.push_back(int_key("log.message.timestamp.before.max.ms", &B::log_message_timestamp_before_max_ms, 0, k_no_max, "How far a CreateTime timestamp may lie before the broker's clock."));
  t.push_back(int_key("log.message.timestamp.after.max.ms", &B::log_message_timestamp_after_max_ms, 0, k_no_max, "How far a CreateTime timestamp may lie after the broker's clock."));
  t.push_back(string_key("compression.type", &B::compression_type, compression, "Final compression of a topic's data; producer keeps the producer's codec."));
  t.push_back(int_key("compression.gzip.level", &B::compression_gzip_level, -1, 9, "Gzip level when compression.type is gzip (-1 = codec default)."));
  t.push_back(int_key("compression.lz4.level", &B::compression_lz4_level, 1, 17, "LZ4 level when compression.type is lz4."));
  t.push_back(int_key("compression.zstd.level", &B::compression_zstd_level, -131072, 22, "Zstd level when compression.type is zstd."));
  t.push_back(int_key("num.recovery.threads.per.data.dir", &B::num_recovery_threads_per_data_dir, 1, k_no_max, "Threads per data directory for recovery at start-up."));

  // log cleaner
  t.push_back(bool_key("log.cleaner.enable", &B::log_cleaner_enable, "Run the log cleaner (compaction)."));
  t.push_back(int_key("log.cleaner.threads", &B::log_cleaner_threads, 0, k_no_max, "Threads of the log cleaner."));
  t.push_back(int_key("log.cleaner.delete.retention.ms", &B::log_cleaner_delete_retention_ms, 0, k_no_max, "How long tombstones are kept in compacted topics."));
  t.push_back(int_key("log.cleaner.min.compaction.lag.ms", &B::log_cleaner_min_compaction_lag_ms, 0, k_no_max, "Minimum age of a record before it may be compacted."));
  t.push_back(int_key("log.cleaner.max.compaction.lag.ms", &B::log_cleaner_max_compaction_lag_ms, 1, k_no_max, "Maximum age of a record before it must be compacted."));
  t.push_back(double_key("log.cleaner.min.cleanable.ratio", &B::log_cleaner_min_cleanable_ratio, 0, 1, "Minimum dirty/total ratio of a log before it is cleaned."));
  t.push_back(int_key("log.cleaner.backoff.ms", &B::log_cleaner_backoff_ms, 0, k_no_max, "Sleep of the cleaner when there is nothing to clean."));
  t.push_back(int_key("log.cleaner.dedupe.buffer.size", &B::log_cleaner_dedupe_buffer_size, 0, k_no_max, "Memory for deduplication across cleaner threads, in bytes."));

  // replication
  t.push_back(int_key("min.insync.replicas", &B::min_insync_replicas, 1, k_no_max, "Minimum in-sync replicas for an acks=all produce to succeed."));
  t.push_back(bool_key("unclean.leader.election.enable", &B::unclean_leader_election_enable, "Allow an out-of-sync replica to become leader (may lose data)."));
  t.push_back(int_key("replica.lag.time.max.ms", &B::replica_lag_time_max_ms, 0, k_no_max, "A follower lagging this long leaves the ISR."));
  t.push_back(int_key("replica.fetch.max.bytes", &B::replica_fetch_max_bytes, 0, k_no_max, "Bytes a follower fetches per partition."));
  t.push_back(int_key("replica.fetch.response.max.bytes", &B::replica_fetch_response_max_bytes, 0, k_no_max, "Bytes a follower fetches per response."));
  t.push_back(int_key("replica.fetch.wait.max.ms", &B::replica_fetch_wait_max_ms, 0, k_no_max, "Maximum wait of a follower fetch."));
  t.push_back(int_key("replica.fetch.min.bytes", &B::replica_fetch_min_bytes, 0, k_no_max, "Minimum bytes of a follower fetch response."));
  t.push_back(int_key("replica.fetch.backoff.ms", &B::replica_fetch_backoff_ms, 0, k_no_max, "Backoff of a follower after a fetch error."));
  t.push_back(int_key("replica.socket.timeout.ms", &B::replica_socket_timeout_ms, k_no_min, k_no_max, "Socket timeout of follower fetches."));
  t.push_back(int_key("num.replica.fetchers", &B::num_replica_fetchers, 1, k_no_max, "Fetcher threads per source broker."));
  {
    broker_key k = string_key("replica.selector.class", &B::replica_selector_class,
                              {"", "org.apache.kafka.common.replica.RackAwareReplicaSelector"},
                              "KIP-392: how the leader picks a replica for a consumer to fetch from (Fetch v11+ rack id); empty = the leader.",
                              config_type::class_);
    k.null_default = true;
    t.push_back(std::move(k));
  }
  t.push_back(int_key("replica.high.watermark.checkpoint.interval.ms", &B::replica_high_watermark_checkpoint_interval_ms, 0, k_no_max, "How often high watermarks are checkpointed."));
  t.push_back(bool_key("auto.leader.rebalance.enable", &B::auto_leader_rebalance_enable, "Move leadership back to preferred replicas."));
  t.push_back(int_key("leader.replication.throttled.rate", &B::leader_replication_throttled_rate, 1, k_no_max, "Reassignment throttle on the leader, bytes/s: above it, replicas named by leader.replication.throttled.replicas get no records for followers outside the ISR (rate over 11 one-second windows)."));
  t.push_back(int_key("follower.replication.throttled.rate", &B::follower_replication_throttled_rate, 1, k_no_max, "Reassignment throttle on the follower, bytes/s: above it, replicas named by follower.replication.throttled.replicas that are not caught up are left out of replica fetches (rate over 11 one-second windows)."));
  t.push_back(int_key("replica.alter.log.dirs.io.max.bytes.per.second", &B::replica_alter_log_dirs_io_max_bytes_per_second, 1, k_no_max, "Throttle of moves between log dirs, bytes/s (accepted, not enforced yet)."));
  t.push_back(int_key("leader.imbalance.check.interval.seconds", &B::leader_imbalance_check_interval_seconds, 1, k_no_max, "How often the active controller moves leadership back to preferred replicas."));
  t.push_back(int_key("fetch.max.bytes", &B::fetch_max_bytes, 1024, k_no_max, "The maximum bytes returned by one Fetch."));
  t.push_back(int_key("fetch.memory.max.bytes", &B::fetch_memory_max_bytes, -1, k_no_max, "Gregor: consumer records read for Fetch responses and held in memory until written, all connections together (a spent account makes consumer fetches wait as for no data; follower fetches are not counted); -1 = 2 x fetch.max.bytes. Kafka sends records from its files and has no such bound."));
  t.push_back(int_key("broker.heartbeat.interval.ms", &B::broker_heartbeat_interval_ms, 1, k_no_max, "Interval of broker heartbeats to the controller."));
  t.push_back(int_key("broker.session.timeout.ms", &B::broker_session_timeout_ms, 1, k_no_max, "A broker silent this long is fenced."));

  // groups and offsets
  t.push_back(int_key("offsets.topic.num.partitions", &B::offsets_topic_num_partitions, 1, k_no_max, "Partitions of __consumer_offsets."));
  t.push_back(int_key("offsets.topic.replication.factor", &B::offsets_topic_replication_factor, 1, k_no_max, "Replication factor of __consumer_offsets (a cluster waits for that many brokers; a single node uses 1)."));
  t.push_back(int_key("offsets.topic.segment.bytes", &B::offsets_topic_segment_bytes, 1, k_no_max, "Segment size of __consumer_offsets."));
  t.push_back(int_key("offsets.load.buffer.size", &B::offsets_load_buffer_size, 1, k_no_max, "Read buffer when loading offsets, in bytes."));
  t.push_back(int_key("offset.metadata.max.bytes", &B::offset_metadata_max_bytes, k_no_min, k_no_max, "Maximum size of offset commit metadata."));
  t.push_back(int_key("offsets.commit.timeout.ms", &B::offsets_commit_timeout_ms, 1, k_no_max, "Timeout of an offset commit."));
  t.push_back(int_key("offsets.retention.minutes", &B::offsets_retention_minutes, 1, std::numeric_limits<int32_t>::max(), "Committed offsets of empty groups are kept this long."));
  t.push_back(int_key("offsets.retention.check.interval.ms", &B::offsets_retention_check_interval_ms, 1, k_no_max, "How often stale offsets are removed."));
  t.push_back(int_key("group.initial.rebalance.delay.ms", &B::group_initial_rebalance_delay_ms, 0, k_no_max, "Wait for more members before the first rebalance of a group."));
  t.push_back(int_key("group.min.session.timeout.ms", &B::group_min_session_timeout_ms, 0, k_no_max, "Minimum session timeout a member may ask for."));
  t.push_back(int_key("group.max.session.timeout.ms", &B::group_max_session_timeout_ms, 0, k_no_max, "Maximum session timeout a member may ask for."));
  t.push_back(int_key("group.max.size", &B::group_max_size, 1, k_no_max, "Maximum members of a classic group."));
  t.push_back(list_key("group.coordinator.rebalance.protocols", &B::group_coordinator_rebalance_protocols, {"classic", "consumer", "share", "streams"}, true, "Rebalance protocols the group coordinator serves."));
  t.push_back(int_key("group.consumer.session.timeout.ms", &B::group_consumer_session_timeout_ms, 1, k_no_max, "Session timeout of KIP-848 consumer group members."));
  t.push_back(int_key("group.consumer.heartbeat.interval.ms", &B::group_consumer_heartbeat_interval_ms, 1, k_no_max, "Heartbeat interval of KIP-848 consumer group members."));
  t.push_back(int_key("group.consumer.max.size", &B::group_consumer_max_size, 1, k_no_max, "Maximum members of a KIP-848 consumer group."));

  // transactions
  t.push_back(int_key("transaction.state.log.num.partitions", &B::transaction_state_log_num_partitions, 1, k_no_max, "Partitions of __transaction_state."));
  t.push_back(int_key("transaction.state.log.replication.factor", &B::transaction_state_log_replication_factor, 1, k_no_max, "Replication factor of __transaction_state (capped to live brokers)."));
  t.push_back(int_key("transaction.state.log.min.isr", &B::transaction_state_log_min_isr, 1, k_no_max, "min.insync.replicas of __transaction_state."));
  t.push_back(int_key("transaction.state.log.segment.bytes", &B::transaction_state_log_segment_bytes, 1, k_no_max, "Segment size of __transaction_state."));
  t.push_back(int_key("transaction.max.timeout.ms", &B::transaction_max_timeout_ms, 1, k_no_max, "The largest transaction timeout a producer may ask for."));
  t.push_back(int_key("transactional.id.expiration.ms", &B::transactional_id_expiration_ms, 1, k_no_max, "Idle transactional ids expire after this long."));
  t.push_back(int_key("transaction.abort.timed.out.transaction.cleanup.interval.ms", &B::transaction_abort_timed_out_transaction_cleanup_interval_ms, 1, k_no_max, "How often timed-out transactions are aborted."));
  t.push_back(int_key("producer.id.expiration.ms", &B::producer_id_expiration_ms, 1, k_no_max, "Idle producer ids expire after this long."));
  t.push_back(int_key("max.incremental.fetch.session.cache.slots", &B::max_incremental_fetch_session_cache_slots, 0, k_no_max, "KIP-227: the most incremental fetch sessions this broker keeps (0 = none)."));

  // Gregor
  t.push_back(string_key("log.level", &B::log_level, {"trace", "debug", "info", "warn", "error", "critical", "off"}, "Gregor: log level."));
  return t;
}

}  // namespace

std::string check_cleanup_policy(std::string_view text) {
  std::vector<std::string> items = split_list(text);
  if (items.empty()) return "a comma-separated list of compact, delete";
  for (const auto& item : items)
    if (item != "compact" && item != "delete") return "a comma-separated list of compact, delete";
  return "";
}

const std::vector<broker_key>& broker_keys() {
  static const std::vector<broker_key> table = build_table();
  return table;
}

const broker_key* find_broker_key(std::string_view name) {
  static const std::unordered_map<std::string, size_t> index = [] {
    std::unordered_map<std::string, size_t> m;
    const auto& t = broker_keys();
    for (size_t i = 0; i < t.size(); ++i) m.emplace(t[i].name, i);
    return m;
  }();
  auto it = index.find(std::string(name));
  return it == index.end() ? nullptr : &broker_keys()[it->second];
}

std::optional<std::string> broker_default_text(const broker_key& key) {
  if (key.null_default) return std::nullopt;
  static const broker_config defaults{};
  return key.get(defaults);
}

}  // namespace gregor::config::detail
