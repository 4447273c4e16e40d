#include "gregor/net/tls.h"

#include "gregor/security/principal_mapping.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace gregor::net {

namespace {

namespace ssl = boost::asio::ssl;

// The OpenSSL error queue as text (and cleared).
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("unknown OpenSSL error") : out;
}

struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

// The parsed content of a key store or trust store.
struct store {
  pkey_ptr key;                 // key stores only
  std::vector<x509_ptr> certs;  // key store: leaf first, then the chain; trust store: the CAs
};

// "listener SSL: config 'ssl.keystore.location' ('/etc/k.p12')": the prefix of every error.
std::string where(const tls_settings& s, std::string_view key, std::string_view file = {}) {
  if (file.empty()) return fmt::format("listener {}: config '{}'", s.listener, key);
  return fmt::format("listener {}: config '{}' ('{}')", s.listener, key, file);
}

result<std::string, std::string> read_file(const std::string& path, const std::string& context) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return failure{fmt::format("{}: cannot open: {}", context, std::strerror(errno))};
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool looks_like_pem(const std::string& bytes) { return bytes.find("-----BEGIN") != std::string::npos; }
bool looks_like_jks(const std::string& bytes) {
  return bytes.size() >= 4 && static_cast<uint8_t>(bytes[0]) == 0xFE && static_cast<uint8_t>(bytes[1]) == 0xED &&
         static_cast<uint8_t>(bytes[2]) == 0xFE && static_cast<uint8_t>(bytes[3]) == 0xED;
}

// Every certificate of a PEM text, and its private key when `want_key` (encrypted keys are
// decrypted with `key_password`).
result<store, std::string> parse_pem(const std::string& text, bool want_key, const std::string& key_password,
                                     const std::string& context) {
  store out;
  ERR_clear_error();
  {
    bio_ptr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.certs.emplace_back(x);
    ERR_clear_error();  // the end of the text reads as an error
  }
  if (want_key) {
    bio_ptr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    // A null callback with user data: OpenSSL takes the data as the passphrase.
    void* pass = const_cast<char*>(key_password.c_str());
    out.key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, pass));
    if (!out.key) {
      return failure{fmt::format("{}: no readable private key (wrong ssl.key.password, or no PRIVATE KEY block): {}",
                                 context, openssl_errors())};
    }
  }
  if (out.certs.empty()) return failure{fmt::format("{}: no PEM certificate found", context)};
  return out;
}

result<store, std::string> parse_pkcs12(const std::string& bytes, const std::string& password,
                                        const std::string& context) {
  ERR_clear_error();
  bio_ptr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  PKCS12* p12 = d2i_PKCS12_bio(bio.get(), nullptr);
  if (p12 == nullptr) return failure{fmt::format("{}: not a PKCS12 file: {}", context, openssl_errors())};
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* ca = nullptr;
  const int ok = PKCS12_parse(p12, password.c_str(), &key, &cert, &ca);
  PKCS12_free(p12);
  if (!ok) {
    return failure{fmt::format("{}: cannot read the PKCS12 store (wrong password?): {}", context, openssl_errors())};
  }
  store out;
  out.key.reset(key);
  if (cert != nullptr) out.certs.emplace_back(cert);
  if (ca != nullptr) {
    while (X509* x = sk_X509_shift(ca)) out.certs.emplace_back(x);
    sk_X509_free(ca);
  }
  if (out.certs.empty()) return failure{fmt::format("{}: the PKCS12 store holds no certificate", context)};
  return out;
}

// Reads a store from its file (or inline PEM). `kind` is "keystore" or "truststore".
result<store, std::string> load_store(const tls_settings& s, bool keystore) {
  const std::string kind = keystore ? "keystore" : "truststore";
  const std::string& type = keystore ? s.keystore_type : s.truststore_type;
  const std::string& location = keystore ? s.keystore_location : s.truststore_location;
  const std::string& password = keystore ? s.keystore_password : s.truststore_password;
  const std::string type_key = fmt::format("ssl.{}.type", kind);
  if (type == "JKS") {
    return failure{fmt::format("{}: JKS is not supported; convert the store with keytool -importkeystore "
                               "-deststoretype PKCS12 and set PKCS12 (or use PEM)",
                               where(s, type_key))};
  }
  if (!type.empty() && type != "PEM" && type != "PKCS12")
    return failure{fmt::format("{} = '{}': expected PEM or PKCS12", where(s, type_key), type)};
  if (location.empty()) {
    // Inline PEM (ssl.keystore.key + ssl.keystore.certificate.chain, ssl.truststore.certificates).
    if (keystore) {
      auto chain = parse_pem(s.keystore_certificate_chain, false, "",
                             where(s, "ssl.keystore.certificate.chain"));
      if (!chain) return failure{chain.error()};
      auto key = parse_pem(s.keystore_key + "\n" + s.keystore_certificate_chain, true, s.key_password,
                           where(s, "ssl.keystore.key"));
      if (!key) return failure{key.error()};
      chain->key = std::move(key->key);
      return std::move(*chain);
    }
    return parse_pem(s.truststore_certificates, false, "", where(s, "ssl.truststore.certificates"));
  }
  const std::string context = where(s, fmt::format("ssl.{}.location", kind), location);
  auto bytes = read_file(location, context);
  if (!bytes) return failure{bytes.error()};
  if (looks_like_jks(*bytes)) {
    return failure{fmt::format("{}: a JKS store, which is not supported; convert it with keytool -importkeystore "
                               "-deststoretype PKCS12",
                               context)};
  }
  const bool pem = type == "PEM" || (type.empty() && looks_like_pem(*bytes));
  if (pem) return parse_pem(*bytes, keystore, s.key_password, context);
  return parse_pkcs12(*bytes, password, context);
}

result<void, std::string> use_keystore(SSL_CTX* ctx, const tls_settings& s) {
  auto ks = load_store(s, true);
  if (!ks) return failure{ks.error()};
  const std::string key =
      s.keystore_location.empty() ? std::string("ssl.keystore.key") : std::string("ssl.keystore.location");
  const std::string context = where(s, key, s.keystore_location);
  if (!ks->key) return failure{fmt::format("{}: the key store holds no private key", context)};
  ERR_clear_error();
  if (SSL_CTX_use_certificate(ctx, ks->certs[0].get()) != 1)
    return failure{fmt::format("{}: unusable certificate: {}", context, openssl_errors())};
  if (SSL_CTX_use_PrivateKey(ctx, ks->key.get()) != 1)
    return failure{fmt::format("{}: unusable private key: {}", context, openssl_errors())};
  if (SSL_CTX_check_private_key(ctx) != 1)
    return failure{fmt::format("{}: the private key does not match the certificate: {}", context, openssl_errors())};
  for (size_t i = 1; i < ks->certs.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, ks->certs[i].get()) != 1)
      return failure{fmt::format("{}: unusable chain certificate: {}", context, openssl_errors())};
  }
  return ok;
}

// Trusted CAs: the trust store when set, else the system's defaults. `client_ca_names`: also
// announce them to clients as acceptable issuers (server side).
result<void, std::string> use_truststore(SSL_CTX* ctx, const tls_settings& s, bool client_ca_names) {
  if (s.truststore_location.empty() && s.truststore_certificates.empty()) {
    SSL_CTX_set_default_verify_paths(ctx);
    return ok;
  }
  auto ts = load_store(s, false);
  if (!ts) return failure{ts.error()};
  X509_STORE* st = SSL_CTX_get_cert_store(ctx);
  ERR_clear_error();
  for (const auto& c : ts->certs) {
    if (X509_STORE_add_cert(st, c.get()) != 1) {
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE)
        return failure{fmt::format("{}: unusable certificate: {}",
                                   where(s, "ssl.truststore.location", s.truststore_location), openssl_errors())};
      ERR_clear_error();
    }
    if (client_ca_names) SSL_CTX_add_client_CA(ctx, c.get());
  }
  return ok;
}

result<void, std::string> use_protocols_and_ciphers(SSL_CTX* ctx, const tls_settings& s) {
  int lo = 0, hi = 0;
  for (const auto& p : s.enabled_protocols) {
    int v = p == "TLSv1.2" ? TLS1_2_VERSION : p == "TLSv1.3" ? TLS1_3_VERSION : 0;
    if (v == 0)
      return failure{fmt::format("{}: '{}' is not supported (TLSv1.2, TLSv1.3)", where(s, "ssl.enabled.protocols"), p)};
    lo = lo == 0 ? v : std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo == 0) return failure{fmt::format("{} is empty", where(s, "ssl.enabled.protocols"))};
  if (!s.cipher_suites.empty()) {
    // Standard (IANA) names, as Java uses them, to OpenSSL's names.
    std::map<std::string, std::pair<std::string, bool>> known;  // standard → (openssl name, TLS 1.3)
    {
      SSL_CTX* probe = SSL_CTX_new(TLS_method());
      SSL_CTX_set_cipher_list(probe, "ALL:COMPLEMENTOFALL");
      SSL* ssl = SSL_new(probe);
      STACK_OF(SSL_CIPHER)* all = SSL_get_ciphers(ssl);
      for (int i = 0; i < sk_SSL_CIPHER_num(all); ++i) {
        const SSL_CIPHER* c = sk_SSL_CIPHER_value(all, i);
        const char* std_name = SSL_CIPHER_standard_name(c);
        if (std_name == nullptr) continue;
        known[std_name] = {SSL_CIPHER_get_name(c), std::strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0};
      }
      SSL_free(ssl);
      SSL_CTX_free(probe);
    }
    std::string tls12, tls13;
    for (const auto& name : s.cipher_suites) {
      auto it = known.find(name);
      if (it == known.end())
        return failure{fmt::format("{}: unknown cipher suite '{}'", where(s, "ssl.cipher.suites"), name)};
      std::string& list = it->second.second ? tls13 : tls12;
      if (!list.empty()) list += ":";
      list += it->second.first;
    }
    ERR_clear_error();
    if (SSL_CTX_set_ciphersuites(ctx, tls13.c_str()) != 1)
      return failure{fmt::format("{}: {}", where(s, "ssl.cipher.suites"), openssl_errors())};
    if (tls12.empty()) {
      lo = std::max(lo, TLS1_3_VERSION);  // no TLS 1.2 suite left: TLS 1.2 cannot be negotiated
    } else if (SSL_CTX_set_cipher_list(ctx, tls12.c_str()) != 1) {
      return failure{fmt::format("{}: {}", where(s, "ssl.cipher.suites"), openssl_errors())};
    }
    if (tls13.empty()) hi = std::min(hi, TLS1_2_VERSION);
    if (lo > hi)
      return failure{fmt::format("{}: no suite for the versions of ssl.enabled.protocols", where(s, "ssl.cipher.suites"))};
  }
  SSL_CTX_set_min_proto_version(ctx, lo);
  SSL_CTX_set_max_proto_version(ctx, hi);
  return ok;
}

}  // namespace

std::vector<std::string> tls_file_states(const std::vector<std::string>& paths) {
  // The contents' hash too: a file rewritten within one tick of the kernel's coarse file clock
  // keeps its modification time, and a renewed certificate often has the same size.
  constexpr std::uintmax_t hashed_bytes_max = 16 << 20;
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(p, ec);
    const auto size = ec ? 0 : std::filesystem::file_size(p, ec);
    if (ec) {
      out.emplace_back();
      continue;
    }
    size_t digest = 0;
    if (size <= hashed_bytes_max) {
      std::ifstream in(p, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      digest = std::hash<std::string>{}(text);
    }
    out.push_back(fmt::format("{}:{}:{:x}", t.time_since_epoch().count(), size, digest));
  }
  return out;
}

std::vector<std::string> tls_settings::watched_files() const {
  std::vector<std::string> out;
  if (!keystore_location.empty()) out.push_back(keystore_location);
  if (!truststore_location.empty() && truststore_location != keystore_location) out.push_back(truststore_location);
  return out;
}

result<tls_context_ptr, std::string> make_server_tls_context(const tls_settings& s) {
  if (s.client_auth != "none" && s.client_auth != "requested" && s.client_auth != "required")
    return failure{fmt::format("{} = '{}': expected none, requested or required", where(s, "ssl.client.auth"),
                               s.client_auth)};
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  SSL_CTX_set_options(h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection gives its record buffers (about 34 KiB: a 16 KiB record each way plus
  // overhead) back to the allocator; they are taken again when bytes arrive.
  SSL_CTX_set_mode(h, SSL_MODE_RELEASE_BUFFERS);
  if (auto r = use_protocols_and_ciphers(h, s); !r) return failure{r.error()};
  if (auto r = use_keystore(h, s); !r) return failure{r.error()};
  if (s.client_auth != "none") {
    if (auto r = use_truststore(h, s, true); !r) return failure{r.error()};
    int mode = SSL_VERIFY_PEER;
    if (s.client_auth == "required") mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(h, mode, nullptr);
  } else {
    SSL_CTX_set_verify(h, SSL_VERIFY_NONE, nullptr);
  }
  // Session resumption with client certificates needs a session id context.
  static const unsigned char sid[] = "gregor";
  SSL_CTX_set_session_id_context(h, sid, sizeof sid - 1);
  return ctx;
}

result<tls_context_ptr, std::string> make_client_tls_context(const tls_settings& s) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* h = ctx->native_handle();
  SSL_CTX_set_options(h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (auto r = use_protocols_and_ciphers(h, s); !r) return failure{r.error()};
  if (!s.keystore_location.empty() || !s.keystore_key.empty()) {
    if (auto r = use_keystore(h, s); !r) return failure{r.error()};
  }
  if (auto r = use_truststore(h, s, false); !r) return failure{r.error()};
  SSL_CTX_set_verify(h, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

namespace {

bool has_keystore(const tls_settings& s) { return !s.keystore_location.empty() || !s.keystore_key.empty(); }
bool has_truststore(const tls_settings& s) {
  return !s.truststore_location.empty() || !s.truststore_certificates.empty();
}

// A certificate's subject alternative names as "DNS:host", "IP:1.2.3.4" ... (GENERAL_NAME_print).
std::vector<std::string> subject_alt_names(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    GENERAL_NAME_print(bio.get(), sk_GENERAL_NAME_value(names, i));
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    out.emplace_back(data, static_cast<size_t>(n));
  }
  GENERAL_NAMES_free(names);
  std::sort(out.begin(), out.end());
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "" when `trust`'s trust store (else the system's CAs) verifies `keystore`'s chain, else why.
std::string verify_chain(const store& keystore, const tls_settings& trust) {
  X509_STORE* st = X509_STORE_new();
  std::string why;
  if (!has_truststore(trust)) {
    X509_STORE_set_default_paths(st);
  } else if (auto ts = load_store(trust, false); !ts) {
    why = ts.error();
  } else {
    for (const auto& c : ts->certs) X509_STORE_add_cert(st, c.get());
  }
  if (why.empty()) {
    STACK_OF(X509)* chain = sk_X509_new_null();
    for (size_t i = 1; i < keystore.certs.size(); ++i) sk_X509_push(chain, keystore.certs[i].get());
    X509_STORE_CTX* vctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(vctx, st, keystore.certs[0].get(), chain);
    if (X509_verify_cert(vctx) != 1)
      why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx));
    X509_STORE_CTX_free(vctx);
    sk_X509_free(chain);
  }
  X509_STORE_free(st);
  return why;
}

}  // namespace

result<tls_context_ptr, std::string> check_tls_update(const tls_settings& before, const tls_settings& after,
                                                      bool allow_dn_changes, bool allow_san_changes,
                                                      bool verify_both_ways) {
  if (has_keystore(before) && !has_keystore(after))
    return failure{"Cannot remove the SSL keystore from an existing listener for which a keystore was configured."};
  if (!has_truststore(before) && has_truststore(after))
    return failure{"Cannot add SSL truststore to an existing listener for which no truststore was configured."};
  auto ctx = make_server_tls_context(after);
  if (!ctx) return failure{ctx.error()};
  auto old_ks = load_store(before, true);
  auto new_ks = load_store(after, true);
  if (!new_ks) return failure{new_ks.error()};
  // The old store may be gone (a file replaced since): nothing to compare with then.
  if (!old_ks) return ctx;
  X509* old_cert = old_ks->certs[0].get();
  X509* new_cert = new_ks->certs[0].get();
  const std::string old_dn = subject_rfc2253(old_cert), new_dn = subject_rfc2253(new_cert);
  if (!allow_dn_changes && lower(old_dn) != lower(new_dn))
    return failure{fmt::format("Keystore DistinguishedName does not match:  existing={{DN={}}}, new={{DN={}}}", old_dn,
                               new_dn)};
  if (!allow_san_changes) {
    const auto old_sans = subject_alt_names(old_cert), new_sans = subject_alt_names(new_cert);
    if (!std::includes(new_sans.begin(), new_sans.end(), old_sans.begin(), old_sans.end()))
      return failure{fmt::format("Keystore SubjectAltNames do not match:  existing={{DN={}, SAN=[{}]}}, new={{DN={}, "
                                 "SAN=[{}]}}",
                                 old_dn, fmt::join(old_sans, ", "), new_dn, fmt::join(new_sans, ", "))};
  }
  if (verify_both_ways) {
    if (auto why = verify_chain(*new_ks, before); !why.empty())
      return failure{fmt::format("the current trust store does not trust the new certificate ({}): {}", new_dn, why)};
    if (auto why = verify_chain(*old_ks, after); !why.empty())
      return failure{fmt::format("the new trust store does not trust the current certificate ({}): {}", old_dn, why)};
  }
  return ctx;
}

std::string subject_rfc2253(const void* cert_ptr) {
  if (cert_ptr == nullptr) return "";
  X509* cert = static_cast<X509*>(const_cast<void*>(cert_ptr));
  return security::x509_name_rfc2253(X509_get_subject_name(cert));
}

void prepare_client_tls(void* ssl_handle, const std::string& host, bool verify_host) {
  SSL* ssl = static_cast<SSL*>(ssl_handle);
  boost::system::error_code addr_ec;
  const auto addr = boost::asio::ip::make_address(host, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI: names only
  if (!verify_host) return;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (addr_ec)
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  else
    X509_VERIFY_PARAM_set1_ip_asc(param, addr.to_string().c_str());
}

std::string tls_handshake_failure(const void* ssl, const std::string& message) {
  const long verify = SSL_get_verify_result(static_cast<const SSL*>(ssl));
  return verify == X509_V_OK ? message : fmt::format("{}: {}", message, X509_verify_cert_error_string(verify));
}

}  // namespace gregor::net
