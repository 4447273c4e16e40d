#include "gregor/security/oauthbearer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "gregor/base/base64.h"

namespace gregor::security {

// ---------------------------------------------------------------- client initial response

namespace {
constexpr char sep = '\x01';
constexpr std::string_view invalid_first_message = "Invalid OAUTHBEARER client first message";

bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_value_char(char c) { return (c >= 0x21 && c <= 0x7e) || c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_word_char(char c) { return is_alpha(c) || (c >= '0' && c <= '9') || c == '_'; }
bool is_token_char(char c) {
  return is_alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '~' || c == '+' || c == '/' || c == '.';
}

// SASLNAME = ([\x01-\x7F] except '=' and ',' | "=2C" | "=3D")+
bool is_saslname(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '=') {
      if (s.substr(i, 3) != "=2C" && s.substr(i, 3) != "=3D") return false;
      i += 2;
      continue;
    }
    if (c < 0x01 || c > 0x7f || c == ',') return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}
}  // namespace

result<oauthbearer_client_response, std::string> parse_oauthbearer_client_response(
    std::span<const uint8_t> message) {
  const std::string_view msg(reinterpret_cast<const char*>(message.data()), message.size());
  const auto bad = [] { return failure{std::string(invalid_first_message)}; };
  if (!msg.starts_with("n,")) return bad();
  size_t pos = 2;
  oauthbearer_client_response out;
  if (msg.substr(pos, 2) == "a=") {
    const size_t comma = msg.find(',', pos + 2);
    if (comma == std::string_view::npos) return bad();
    out.authzid = std::string(msg.substr(pos + 2, comma - pos - 2));
    if (!is_saslname(out.authzid)) return bad();
    pos = comma;
  }
  if (msg.substr(pos, 2) != ",\x01") return bad();
  pos += 2;
  // (key=value\x01)* then the final \x01: the rest must end with \x01 and hold only pairs.
  if (msg.size() <= pos || msg.back() != sep) return bad();
  std::string_view pairs = msg.substr(pos, msg.size() - pos - 1);
  std::map<std::string, std::string> props;
  while (!pairs.empty()) {
    const size_t end = pairs.find(sep);
    if (end == std::string_view::npos) return bad();
    const std::string_view pair = pairs.substr(0, end);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == pair.size()) return bad();
    const std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
    for (char c : key)
      if (!is_alpha(c)) return bad();
    for (char c : value)
      if (!is_value_char(c)) return bad();
    props.insert_or_assign(std::string(key), std::string(value));  // Utils.parseMap: the last one wins
    pairs.remove_prefix(end + 1);
  }
  auto auth = props.find("auth");
  if (auth == props.end()) return failure{std::string(invalid_first_message) + ": 'auth' not specified"};
  // (?<scheme>[\w]+)[ ]+(?<token>[-_~+/\.a-zA-Z0-9]+([=]*))
  const std::string_view a = auth->second;
  size_t i = 0;
  while (i < a.size() && is_word_char(a[i])) ++i;
  const std::string_view scheme = a.substr(0, i);
  size_t spaces = i;
  while (spaces < a.size() && a[spaces] == ' ') ++spaces;
  size_t t = spaces;
  while (t < a.size() && is_token_char(a[t])) ++t;
  const size_t token_chars_end = t;
  while (t < a.size() && a[t] == '=') ++t;
  if (scheme.empty() || spaces == i || token_chars_end == spaces || t != a.size())
    return failure{std::string(invalid_first_message) + ": invalid 'auth' format"};
  if (!iequals(scheme, "bearer"))
    return failure{fmt::format("Invalid scheme in OAUTHBEARER client first message: {}", scheme)};
  out.token = std::string(a.substr(spaces));
  props.erase(auth);
  out.extensions = std::move(props);
  return out;
}

std::vector<uint8_t> oauthbearer_client_message(std::string_view token, std::string_view authzid,
                                                const std::map<std::string, std::string>& extensions) {
  std::string m = "n,";
  if (!authzid.empty()) m += fmt::format("a={}", authzid);
  m += ",\x01";
  m += fmt::format("auth=Bearer {}", token);
  for (const auto& [k, v] : extensions) m += fmt::format("\x01{}={}", k, v);
  m += "\x01\x01";
  return {m.begin(), m.end()};
}

// ---------------------------------------------------------------- JWS

result<jwt, std::string> parse_jwt(std::string_view compact) {
  const size_t d1 = compact.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : compact.find('.', d1 + 1);
  if (d1 == std::string_view::npos || d2 == std::string_view::npos || compact.find('.', d2 + 1) != std::string_view::npos ||
      d1 == 0 || d2 == d1 + 1 || d2 + 1 == compact.size())
    return failure{std::string("Malformed JWT provided; expected three sections (header, payload, and signature)")};
  jwt out;
  out.signing_input = std::string(compact.substr(0, d2));
  auto header = base64::decode_url(compact.substr(0, d1));
  auto payload = base64::decode_url(compact.substr(d1 + 1, d2 - d1 - 1));
  auto signature = base64::decode_url(compact.substr(d2 + 1));
  if (!header || !payload || !signature) return failure{std::string("a JWT section is not base64url")};
  auto h = parse_json({reinterpret_cast<const char*>(header->data()), header->size()});
  if (!h || !h->is_object()) return failure{fmt::format("the JWT header is not a JSON object{}", h ? "" : ": " + h.error())};
  auto p = parse_json({reinterpret_cast<const char*>(payload->data()), payload->size()});
  if (!p || !p->is_object()) return failure{fmt::format("the JWT claims are not a JSON object{}", p ? "" : ": " + p.error())};
  out.header = std::move(*h);
  out.claims = std::move(*p);
  const json_value* alg = out.header.find("alg");
  if (!alg || !alg->is_string()) return failure{std::string("the JWT header has no \"alg\"")};
  out.alg = alg->text;
  if (const json_value* kid = out.header.find("kid"); kid && kid->is_string()) out.kid = kid->text;
  out.signature = std::move(*signature);
  return out;
}

// ---------------------------------------------------------------- JWKS

namespace {
struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct bn_free {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct bld_free {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct params_free {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct pctx_free {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct mdctx_free {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr key_from_params(const char* type, OSSL_PARAM* params) {
  std::unique_ptr<EVP_PKEY_CTX, pctx_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
    return nullptr;
  return pkey_ptr(key);
}

std::optional<std::vector<uint8_t>> member_bytes(const json_value& jwk, std::string_view name) {
  const json_value* v = jwk.find(name);
  if (!v || !v->is_string() || v->text.empty()) return std::nullopt;
  return base64::decode_url(v->text);
}

std::string member_text(const json_value& jwk, std::string_view name) {
  const json_value* v = jwk.find(name);
  return v && v->is_string() ? v->text : std::string();
}

pkey_ptr rsa_key(const json_value& jwk) {
  auto n = member_bytes(jwk, "n"), e = member_bytes(jwk, "e");
  if (!n || !e) return nullptr;
  std::unique_ptr<BIGNUM, bn_free> bn_n(BN_bin2bn(n->data(), int(n->size()), nullptr));
  std::unique_ptr<BIGNUM, bn_free> bn_e(BN_bin2bn(e->data(), int(e->size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, bld_free> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return nullptr;
  std::unique_ptr<OSSL_PARAM, params_free> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return nullptr;
  return key_from_params("RSA", params.get());
}

struct curve {
  std::string_view jwk_name, openssl_name, alg;
  size_t coordinate_bytes;
};
constexpr curve curves[] = {{"P-256", "prime256v1", "ES256", 32}, {"P-384", "secp384r1", "ES384", 48},
                            {"P-521", "secp521r1", "ES512", 66}};

pkey_ptr ec_key(const json_value& jwk, const curve& c) {
  auto x = member_bytes(jwk, "x"), y = member_bytes(jwk, "y");
  if (!x || !y || x->size() != c.coordinate_bytes || y->size() != c.coordinate_bytes) return nullptr;
  std::vector<uint8_t> point{0x04};
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());
  std::unique_ptr<OSSL_PARAM_BLD, bld_free> bld(OSSL_PARAM_BLD_new());
  const std::string group(c.openssl_name);
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.c_str(), 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
    return nullptr;
  std::unique_ptr<OSSL_PARAM, params_free> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return nullptr;
  return key_from_params("EC", params.get());
}

// JWS algorithm → digest and key type; nullptr digest = unsupported.
struct jws_algorithm {
  const EVP_MD* md = nullptr;
  std::string_view kty;
  const curve* ec = nullptr;
};
jws_algorithm algorithm_of(std::string_view alg) {
  if (alg == "RS256") return {EVP_sha256(), "RSA", nullptr};
  if (alg == "RS384") return {EVP_sha384(), "RSA", nullptr};
  if (alg == "RS512") return {EVP_sha512(), "RSA", nullptr};
  if (alg == "ES256") return {EVP_sha256(), "EC", &curves[0]};
  if (alg == "ES384") return {EVP_sha384(), "EC", &curves[1]};
  if (alg == "ES512") return {EVP_sha512(), "EC", &curves[2]};
  return {};
}

// JWS ECDSA signatures are r || s (RFC 7518 section 3.4); OpenSSL verifies DER.
std::optional<std::vector<uint8_t>> ecdsa_der(std::span<const uint8_t> raw, size_t coordinate_bytes) {
  if (raw.size() != 2 * coordinate_bytes) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (!sig) return std::nullopt;
  BIGNUM* r = BN_bin2bn(raw.data(), int(coordinate_bytes), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + coordinate_bytes, int(coordinate_bytes), nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::vector<uint8_t> out(der, der + len);
  OPENSSL_free(der);
  return out;
}
}  // namespace

struct jwk_set::key {
  std::string kid, kty, alg;
  const curve* ec = nullptr;
  std::shared_ptr<EVP_PKEY> pkey;
};

result<jwk_set, std::string> jwk_set::parse(std::string_view document) {
  auto doc = parse_json(document);
  if (!doc) return failure{fmt::format("not JSON: {}", doc.error())};
  const json_value* keys = doc->find("keys");
  if (!keys || !keys->is_array()) return failure{std::string("not a JWKS: no \"keys\" array")};
  jwk_set out;
  for (const auto& jwk : keys->items) {
    auto k = std::make_shared<key>();
    k->kty = member_text(jwk, "kty");
    k->kid = member_text(jwk, "kid");
    k->alg = member_text(jwk, "alg");
    const std::string use = member_text(jwk, "use");
    pkey_ptr pkey;
    if (!jwk.is_object() || (jwk.find("use") && use != "sig")) {
      // Not a verification key.
    } else if (k->kty == "RSA") {
      pkey = rsa_key(jwk);
      // jose4j refuses RSA keys below 2048 bits for every JOSE RSA algorithm.
      if (pkey && EVP_PKEY_get_bits(pkey.get()) < 2048) pkey.reset();
    } else if (k->kty == "EC") {
      const std::string crv = member_text(jwk, "crv");
      for (const auto& c : curves)
        if (c.jwk_name == crv) k->ec = &c;
      if (k->ec) pkey = ec_key(jwk, *k->ec);
    }
    if (!pkey) {
      ++out._skipped;
      continue;
    }
    k->pkey = std::shared_ptr<EVP_PKEY>(pkey.release(), EVP_PKEY_free);
    out._keys.push_back(std::move(k));
  }
  return out;
}

bool jwk_set::has_kid(std::string_view kid) const {
  return std::any_of(_keys.begin(), _keys.end(), [&](const auto& k) { return k->kid == kid; });
}

std::string jwk_set::verify(const jwt& token) const {
  if (token.alg == "none") return "'none' is a disallowed JWS algorithm";
  const jws_algorithm a = algorithm_of(token.alg);
  if (!a.md) return fmt::format("JWS algorithm '{}' is not supported (RS256/384/512, ES256/384/512)", token.alg);
  bool candidate = false;
  for (const auto& k : _keys) {
    if (k->kty != a.kty || (!token.kid.empty() && k->kid != token.kid) || (!k->alg.empty() && k->alg != token.alg))
      continue;
    if (a.ec && k->ec != a.ec) continue;
    candidate = true;
    std::vector<uint8_t> sig = token.signature;
    if (a.ec) {
      auto der = ecdsa_der(token.signature, a.ec->coordinate_bytes);
      if (!der) continue;
      sig = std::move(*der);
    }
    std::unique_ptr<EVP_MD_CTX, mdctx_free> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, a.md, nullptr, k->pkey.get()) != 1) continue;
    const auto* data = reinterpret_cast<const unsigned char*>(token.signing_input.data());
    if (EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data, token.signing_input.size()) == 1) return "";
  }
  if (!candidate)
    return fmt::format("Unable to find a suitable verification key for JWS w/ header alg={} kid={} among {} key(s)",
                       token.alg, token.kid.empty() ? "(none)" : token.kid, _keys.size());
  return "JWS signature is invalid";
}

// ---------------------------------------------------------------- claims

namespace {
// A NumericDate claim as jose4j reads it: absent → nullopt; a number → whole seconds; else an error.
result<std::optional<int64_t>, std::string> numeric_date(const json_value& claims, std::string_view name) {
  const json_value* v = claims.find(name);
  if (!v || v->what == json_value::kind::null) return std::optional<int64_t>{};
  if (!v->is_number())
    return failure{fmt::format("Could not extract the '{}' claim from the access token (not a number)", name)};
  const double max_s = double(std::numeric_limits<int64_t>::max() / 1000);
  if (std::fabs(v->number) >= max_s) return failure{fmt::format("the '{}' claim is out of range", name)};
  return std::optional<int64_t>(int64_t(v->number));
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && static_cast<unsigned char>(s[b]) <= ' ') ++b;
  while (e > b && static_cast<unsigned char>(s[e - 1]) <= ' ') --e;
  return std::string(s.substr(b, e - b));
}
}  // namespace

result<oauthbearer_token, std::string> validate_jwt(std::string_view compact, const jwk_set& keys,
                                                     const jwt_validation_options& options, int64_t now_ms) {
  auto parsed = parse_jwt(compact);
  if (!parsed) return failure{fmt::format("Could not validate the access token: {}", parsed.error())};
  const jwt& token = *parsed;
  if (std::string why = keys.verify(token); !why.empty())
    return failure{fmt::format("Could not validate the access token: {}", why)};
  const json_value& claims = token.claims;
  const int64_t skew_s = options.clock_skew_seconds;
  const int64_t now_s = now_ms / 1000;

  auto exp = numeric_date(claims, "exp");
  if (!exp) return failure{exp.error()};
  if (!*exp) return failure{std::string("Could not validate the access token: No Expiration Time (exp) claim present.")};
  auto iat = numeric_date(claims, "iat");
  if (!iat) return failure{iat.error()};
  if (!*iat) return failure{std::string("Could not validate the access token: No Issued At (iat) claim present.")};
  if (now_s - skew_s >= **exp)
    return failure{fmt::format("Could not validate the access token: The JWT is no longer valid - the evaluation time "
                               "{} is on or after the Expiration Time (exp={}) claim value (even when providing {} "
                               "seconds of leeway to account for clock skew).",
                               now_s, **exp, skew_s)};
  auto nbf = numeric_date(claims, "nbf");
  if (!nbf) return failure{nbf.error()};
  if (*nbf && now_s + skew_s < **nbf)
    return failure{fmt::format("Could not validate the access token: The JWT is not yet valid as the evaluation time "
                               "{} is before the Not Before (nbf={}) claim time (even when providing {} seconds of "
                               "leeway to account for clock skew).",
                               now_s, **nbf, skew_s)};

  // aud: a string or an array of strings.
  if (const json_value* aud = claims.find("aud"); aud && aud->what != json_value::kind::null) {
    std::vector<std::string> audiences;
    if (aud->is_string()) {
      audiences.push_back(aud->text);
    } else if (aud->is_array()) {
      for (const auto& item : aud->items) {
        if (!item.is_string()) return failure{std::string("Could not extract the 'aud' claim from the access token")};
        audiences.push_back(item.text);
      }
    } else {
      return failure{std::string("Could not extract the 'aud' claim from the access token")};
    }
    bool acceptable = false;
    for (const auto& a : audiences)
      for (const auto& e : options.expected_audience) acceptable = acceptable || a == e;
    if (!acceptable)
      return failure{fmt::format("Could not validate the access token: Audience (aud) claim [{}]{}. Expected one of "
                                 "[{}] as an aud value.",
                                 fmt::join(audiences, ", "),
                                 options.expected_audience.empty()
                                     ? " present in the JWT but no expected audience value(s) were provided to the "
                                       "JWT Consumer"
                                     : " doesn't contain an acceptable identifier",
                                 fmt::join(options.expected_audience, ", "))};
  } else if (!options.expected_audience.empty()) {
    return failure{std::string("Could not validate the access token: No Audience (aud) claim present.")};
  }

  if (options.expected_issuer) {
    const json_value* iss = claims.find("iss");
    if (!iss || iss->what == json_value::kind::null)
      return failure{std::string("Could not validate the access token: No Issuer (iss) claim present.")};
    if (!iss->is_string() || iss->text != *options.expected_issuer)
      return failure{fmt::format("Could not validate the access token: Issuer (iss) claim value ({}) doesn't match "
                                 "expected value of {}",
                                 iss->is_string() ? iss->text : std::string("not a string"), *options.expected_issuer)};
  }

  oauthbearer_token out;
  if (const json_value* scope = claims.find(options.scope_claim_name)) {
    if (scope->is_string()) {
      out.scopes.insert(trim(scope->text));
    } else if (scope->is_array()) {
      for (const auto& item : scope->items) {
        if (!item.is_string())
          return failure{fmt::format("Could not extract the '{}' claim from the access token", options.scope_claim_name)};
        out.scopes.insert(trim(item.text));
      }
    }
  }
  const json_value* sub = claims.find(options.sub_claim_name);
  if (!sub || sub->what == json_value::kind::null)
    return failure{fmt::format("{} value must be non-null", options.sub_claim_name)};
  if (!sub->is_string())
    return failure{fmt::format("Could not extract the '{}' claim from the access token", options.sub_claim_name)};
  if (sub->text.empty()) return failure{fmt::format("{} value must be non-empty", options.sub_claim_name)};
  out.principal_name = trim(sub->text);
  if (out.principal_name.empty())
    return failure{fmt::format("{} value must not contain only whitespace", options.sub_claim_name)};
  if (**exp < 0) return failure{fmt::format("exp value must be non-negative; value given was \"{}\"", **exp * 1000)};
  if (**iat < 0) return failure{fmt::format("iat value must be null or non-negative; value given was \"{}\"", **iat * 1000)};
  out.expiry_ms = **exp * 1000;
  out.issued_at_ms = **iat * 1000;
  return out;
}

// ---------------------------------------------------------------- the mechanism

sasl_step oauthbearer_server::handle(std::span<const uint8_t> client_message) {
  if (_finished) return sasl_step{sasl_step::state::failed, {}, "Unexpected SASL/OAUTHBEARER message after the end", false};
  if (_challenged && client_message.size() == 1 && client_message[0] == 0x01) {
    // The client acknowledged our error challenge: the authentication fails with it.
    _finished = true;
    return sasl_step{sasl_step::state::failed, {}, std::string(oauthbearer_invalid_token_challenge), true};
  }
  _challenged = false;
  auto response = parse_oauthbearer_client_response(client_message);
  if (!response) {
    _finished = true;
    return sasl_step{sasl_step::state::failed, {}, response.error(), false};
  }
  auto token = _validate(response->token);
  if (!token) {
    _challenged = true;
    const std::string_view challenge = oauthbearer_invalid_token_challenge;
    return sasl_step{sasl_step::state::next, {challenge.begin(), challenge.end()}, token.error(), false};
  }
  _finished = true;
  if (!response->authzid.empty() && response->authzid != token->principal_name)
    return sasl_step{sasl_step::state::failed, {},
                     fmt::format("Authentication failed: Client requested an authorization id ({}) that is different "
                                 "from the token's principal name ({})",
                                 response->authzid, token->principal_name),
                     true};
  _principal = token->principal_name;
  _expiry_ms = token->expiry_ms;
  return sasl_step{sasl_step::state::done, {}, {}, false};
}

}  // namespace gregor::security
