#pragma once
// TLS contexts for the broker's listeners (server side) and for its own outgoing connections
// (client side), built with OpenSSL through Asio's ssl::context from Kafka's ssl.* settings.
//
// Called by server (broker.cc fills tls_settings from a listener's ssl.* configs) and by net
// itself when a listener's key store or trust store file changes (tcp_server reloads). Errors
// name the config key, the listener and the file.
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "gregor/base/result.h"

namespace gregor::net {

// Kafka's ssl.* configs of one listener, as text. Empty strings are "not set".
struct tls_settings {
  std::string listener;                    // named in error messages
  // ssl.keystore.type: PEM or PKCS12; "" = detected from the file (PEM text, else PKCS12).
  // JKS is refused.
  std::string keystore_type;
  std::string keystore_location;           // ssl.keystore.location
  std::string keystore_password;           // ssl.keystore.password (PKCS12)
  std::string key_password;                // ssl.key.password (encrypted PEM key)
  std::string keystore_certificate_chain;  // ssl.keystore.certificate.chain (inline PEM)
  std::string keystore_key;                // ssl.keystore.key (inline PEM)
  std::string truststore_type;             // ssl.truststore.type: PEM, PKCS12 or ""
  std::string truststore_location;         // ssl.truststore.location
  std::string truststore_password;         // ssl.truststore.password (PKCS12)
  std::string truststore_certificates;     // ssl.truststore.certificates (inline PEM)
  std::string client_auth = "none";        // ssl.client.auth: none, requested, required
  std::vector<std::string> enabled_protocols{"TLSv1.2", "TLSv1.3"};  // ssl.enabled.protocols
  // ssl.cipher.suites by standard (IANA) name; empty = OpenSSL's defaults.
  std::vector<std::string> cipher_suites;

  // The files whose change calls for a new context (key store and trust store locations).
  std::vector<std::string> watched_files() const;

  bool operator==(const tls_settings&) const = default;
};

// What identifies each file's version (modification time, size and a hash of the contents; ""
// when it cannot be read): a store is reloaded when this changes.
std::vector<std::string> tls_file_states(const std::vector<std::string>& paths);

using tls_context_ptr = std::shared_ptr<boost::asio::ssl::context>;

// A context for accepting TLS connections: the key store is required; the trust store (else the
// system's default CAs) verifies client certificates when client_auth is requested or required.
result<tls_context_ptr, std::string> make_server_tls_context(const tls_settings& s);
// A context for the broker's outgoing TLS connections: the trust store (else the system's default
// CAs) verifies the server; the key store, when set, is the client certificate (mTLS). Host name
// verification is per connection (SSL_set1_host), not part of the context.
result<tls_context_ptr, std::string> make_client_tls_context(const tls_settings& s);

// Prepares a client connection's SSL (an SSL*) for `host` before the handshake: SNI when the host
// is a name (never for an address); with `verify_host`, the server's certificate must name it (a
// DNS name, or an IP address in its subject alternative names), as Kafka's
// ssl.endpoint.identification.algorithm=https checks.
void prepare_client_tls(void* ssl, const std::string& host, bool verify_host);
// Why a handshake on `ssl` (an SSL*) failed with `message`: the message, and the certificate
// verification's reason when verification failed ("...: certificate verify failed: self-signed
// certificate").
std::string tls_handshake_failure(const void* ssl, const std::string& message);

// Kafka's rules for a listener's stores changed at runtime (SslFactory.validateReconfiguration,
// called for an AlterConfigs of listener.name.<l>.ssl.keystore.* / .truststore.*): the new
// stores load (a context is built from `after`); a listener keeps having a key store, and does not
// gain a trust store it had none of; unless `allow_dn_changes`, the new certificate has the old
// one's subject (RFC 2253, compared ignoring case) and, unless `allow_san_changes`, at least its
// subject alternative names; with `verify_both_ways` (the inter-broker listener, whose certificate
// is also the brokers' client certificate), the old trust store trusts the new certificate and the
// new trust store the old one. Returns the new server context, else the reason.
result<tls_context_ptr, std::string> check_tls_update(const tls_settings& before, const tls_settings& after,
                                                      bool allow_dn_changes, bool allow_san_changes,
                                                      bool verify_both_ways);

// The certificate's subject distinguished name as Java's X500Principal.getName() prints it
// (RFC 2253: most specific RDN first, "CN=alice,OU=eng,O=Example,C=US"); attributes without a
// Java keyword are printed as <oid>=#<hex DER>. `cert` is an X509*; "" when null.
std::string subject_rfc2253(const void* cert);

}  // namespace gregor::net
