// AlterUserScramCredentials (key 51) and DescribeUserScramCredentials (key 50), v0:
// `kafka-configs.sh --entity-type users --alter --add-config 'SCRAM-SHA-256=[password=...]'` and
// `--describe`. The client salts the password; the controller stores StoredKey and ServerKey
// (UserScramCredentialRecord), never the password. One result per user, with Kafka's checks and
// messages: an empty name or iterations out of range UNACCEPTABLE_CREDENTIAL, an unknown
// mechanism UNSUPPORTED_SASL_MECHANISM, a user altered twice for one mechanism DUPLICATE_RESOURCE,
// a deletion of a credential that does not exist RESOURCE_NOT_FOUND.
#include <map>
#include <set>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/alter_user_scram_credentials.h"
#include "gregor/protocol/messages/describe_user_scram_credentials.h"
#include "gregor/security/scram.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using protocol::error_code;

using alter_req_t = protocol::alter_user_scram_credentials_request;
using alter_resp_t = protocol::alter_user_scram_credentials_response;

boost::asio::awaitable<std::optional<alter_resp_t>> alter(core& c, request_context& ctx, alter_req_t& req) {
  alter_resp_t resp;
  if (!cluster_authorized(ctx, security::acl_operation::alter)) {
    std::set<std::string> users;
    for (const auto& d : req.deletions) users.insert(d.name);
    for (const auto& u : req.upsertions) users.insert(u.name);
    for (const auto& user : users) {
      auto& out = resp.results.emplace_back();
      out.user = user;
      out.error_code = code(error_code::cluster_authorization_failed);
      out.error_message = "Cluster authorization failed.";
    }
    co_return resp;
  }
  // Per user, in order of first appearance: the first error, and the changes.
  std::vector<std::string> users;
  std::map<std::string, std::optional<admin_error>> errors;
  std::map<std::string, std::vector<scram_alteration>> changes;
  std::set<std::string> seen;  // Kafka: one change per user per request
  auto note = [&](const std::string& user, std::optional<admin_error> e, std::optional<scram_alteration> change) {
    if (!errors.contains(user)) {
      users.push_back(user);
      errors[user] = std::nullopt;
    }
    if (e && !errors[user]) errors[user] = std::move(e);
    if (change) changes[user].push_back(std::move(*change));
  };
  auto check = [&](const std::string& user, int8_t mechanism) -> std::optional<admin_error> {
    if (user.empty()) return admin_error{error_code::unacceptable_credential, "Username must not be empty"};
    if (!security::scram_mechanism_from_type(mechanism))
      return admin_error{error_code::unsupported_sasl_mechanism, "Unknown SCRAM mechanism"};
    if (!seen.insert(user).second)
      return admin_error{error_code::duplicate_resource, "A user credential cannot be altered twice in the same request"};
    return std::nullopt;
  };
  for (const auto& d : req.deletions) {
    auto e = check(d.name, d.mechanism);
    scram_alteration a;
    a.user = d.name;
    a.mechanism = d.mechanism;
    a.remove = true;
    note(d.name, e, e ? std::nullopt : std::optional<scram_alteration>(a));
  }
  for (const auto& u : req.upsertions) {
    auto e = check(u.name, u.mechanism);
    if (!e) {
      if (auto why = security::validate_scram_iterations(u.iterations))
        e = admin_error{error_code::unacceptable_credential, *why};
      else if (u.salt.empty() || u.salted_password.empty())
        e = admin_error{error_code::unacceptable_credential, "Salt and salted password must not be empty"};
    }
    scram_alteration a;
    a.user = u.name;
    a.mechanism = u.mechanism;
    a.iterations = u.iterations;
    a.salt = u.salt;
    a.salted_password = u.salted_password;
    note(u.name, e, e ? std::nullopt : std::optional<scram_alteration>(std::move(a)));
  }
  // A user with any refused change changes nothing.
  std::vector<scram_alteration> accepted;
  std::vector<std::string> owners;
  for (const auto& user : users) {
    if (errors[user]) continue;
    for (auto& a : changes[user]) {
      accepted.push_back(a);
      owners.push_back(user);
    }
  }
  if (!accepted.empty()) {
    auto r = co_await controller_for(c, ctx).alter_scram_credentials(std::move(accepted));
    if (!r) {
      for (const auto& user : owners) errors[user] = r.error();
    } else {
      for (size_t i = 0; i < r->size() && i < owners.size(); ++i)
        if ((*r)[i] && !errors[owners[i]]) errors[owners[i]] = (*r)[i];
      log::get("server").info("SCRAM credentials of {} user(s) altered by {}", users.size(), ctx.session->principal);
    }
  }
  for (const auto& user : users) {
    auto& out = resp.results.emplace_back();
    out.user = user;
    if (const auto& e = errors[user]) {
      out.error_code = code(e->code);
      out.error_message = e->message;
    }
  }
  co_return resp;
}

using describe_req_t = protocol::describe_user_scram_credentials_request;
using describe_resp_t = protocol::describe_user_scram_credentials_response;

boost::asio::awaitable<std::optional<describe_resp_t>> describe(core& c, request_context& ctx, describe_req_t& req) {
  describe_resp_t resp;
  if (!cluster_authorized(ctx, security::acl_operation::describe)) {
    resp.error_code = code(error_code::cluster_authorization_failed);
    resp.error_message = "Cluster authorization failed.";
    co_return resp;
  }
  const auto& all = c.image().scram_credentials();
  auto describe_user = [&](const std::string& user, const std::map<int8_t, controller::scram_credential_entry>& creds) {
    auto& r = resp.results.emplace_back();
    r.user = user;
    for (const auto& [mechanism, cred] : creds) {
      auto& info = r.credential_infos.emplace_back();
      info.mechanism = mechanism;
      info.iterations = cred.iterations;
    }
  };
  if (!req.users || req.users->empty()) {
    for (const auto& [user, creds] : all) describe_user(user, creds);
    co_return resp;
  }
  std::map<std::string, int> counts;
  for (const auto& u : *req.users) ++counts[u.name];
  std::set<std::string> reported;
  for (const auto& u : *req.users) {
    if (!reported.insert(u.name).second) continue;
    if (counts[u.name] > 1) {
      auto& r = resp.results.emplace_back();
      r.user = u.name;
      r.error_code = code(error_code::duplicate_resource);
      r.error_message = "Cannot describe SCRAM credentials for the same user twice in a single request";
      continue;
    }
    auto it = all.find(u.name);
    if (it == all.end()) {
      auto& r = resp.results.emplace_back();
      r.user = u.name;
      r.error_code = code(error_code::resource_not_found);
      r.error_message = "Attempt to describe a user credential that does not exist";
      continue;
    }
    describe_user(it->first, it->second);
  }
  co_return resp;
}

}  // namespace

api_route alter_user_scram_credentials_route() {
  return make_route<alter_req_t, alter_resp_t, &alter, 0, 0>("AlterUserScramCredentials");
}
api_route describe_user_scram_credentials_route() {
  return make_route<describe_req_t, describe_resp_t, &describe, 0, 0>("DescribeUserScramCredentials");
}

}  // namespace gregor::server
