#pragma once
// Test-only certificates made with the OpenSSL API at run time (no private key is committed):
// a P-256 key and an X.509 certificate, self-signed or signed by a test CA, as PEM or PKCS12.
// Used by tests/unit/net/tls_test.cc and tests/unit/rpc/rpc_test.cc.
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace gregor::test {

struct key_and_cert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  key_and_cert() = default;
  key_and_cert(const key_and_cert&) = delete;
  key_and_cert(key_and_cert&& o) noexcept : key(o.key), cert(o.cert) { o.key = nullptr, o.cert = nullptr; }
  key_and_cert& operator=(key_and_cert&& o) noexcept {
    std::swap(key, o.key);
    std::swap(cert, o.cert);
    return *this;
  }
  ~key_and_cert() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

// A P-256 key and a certificate for `subject` ({{"C","US"},{"O","Example"},{"CN","alice"}}, in
// encoding order), signed by `issuer` (self-signed when null).
inline key_and_cert make_cert(const std::vector<std::pair<std::string, std::string>>& subject,
                              const key_and_cert* issuer, bool ca,
                              const char* san = "DNS:localhost,IP:127.0.0.1") {
  key_and_cert out;
  out.key = EVP_EC_gen("P-256");
  out.cert = X509_new();
  X509_set_version(out.cert, 2);
  static long serial = 1;  // test-only: one thread makes certificates
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 3600L * 24);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  for (const auto& [k, v] : subject) {
    X509_NAME_add_entry_by_txt(name, k.c_str(), MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(v.c_str()), -1,
                               -1, 0);
  }
  X509_set_issuer_name(out.cert, issuer ? X509_get_subject_name(issuer->cert) : name);
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer ? issuer->cert : out.cert, out.cert, nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const char* value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    X509_add_ext(out.cert, e, -1);
    X509_EXTENSION_free(e);
  };
  add_ext(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (!ca) add_ext(NID_subject_alt_name, san);
  X509_sign(out.cert, issuer ? issuer->key : out.key, EVP_sha256());
  return out;
}

inline std::string pem_of(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c);
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  std::string s(p, size_t(n));
  BIO_free(b);
  return s;
}

inline std::string pem_of(EVP_PKEY* k, const char* password = nullptr) {
  BIO* b = BIO_new(BIO_s_mem());
  if (password) {
    PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), password, int(std::strlen(password)), nullptr, nullptr);
  } else {
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  }
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  std::string s(p, size_t(n));
  BIO_free(b);
  return s;
}

inline std::string pkcs12_of(const key_and_cert& kc, const key_and_cert* ca, const char* password) {
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (ca) sk_X509_push(chain, ca->cert);
  PKCS12* p12 = PKCS12_create(password, "gregor", kc.key, kc.cert, chain, 0, 0, 0, 0, 0);
  sk_X509_free(chain);
  BIO* b = BIO_new(BIO_s_mem());
  i2d_PKCS12_bio(b, p12);
  PKCS12_free(p12);
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  std::string s(p, size_t(n));
  BIO_free(b);
  return s;
}

}  // namespace gregor::test
