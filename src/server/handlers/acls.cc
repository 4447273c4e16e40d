// CreateAcls (key 30), DescribeAcls (key 29) and DeleteAcls (key 31), v1-3: `kafka-acls.sh`.
// ACLs live in the metadata log (AccessControlEntryRecord); creations and deletions are decided
// by the active controller (forwarded like every metadata change), descriptions are answered from
// this broker's image. Without an authorizer (authorizer.class.name unset) every answer is
// SECURITY_DISABLED, as in Kafka.
#include <map>
#include <tuple>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/create_acls.h"
#include "gregor/protocol/messages/delete_acls.h"
#include "gregor/protocol/messages/describe_acls.h"
#include "gregor/security/acl.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using protocol::error_code;
namespace sec = security;

constexpr const char* no_authorizer = "No Authorizer is configured.";

bool authorizer_on(const core& c) { return !c.config().authorizer_class_name.empty(); }

sec::acl_binding_filter to_filter(int8_t rtype, const std::optional<std::string>& name, int8_t pattern,
                                  const std::optional<std::string>& principal, const std::optional<std::string>& host,
                                  int8_t op, int8_t permission) {
  sec::acl_binding_filter f;
  f.rtype = sec::resource_type_from_code(rtype);
  f.name = name;
  f.pattern = sec::pattern_type_from_code(pattern);
  f.principal = principal;
  f.host = host;
  f.op = sec::acl_operation_from_code(op);
  f.permission = sec::acl_permission_from_code(permission);
  return f;
}

sec::acl_binding to_binding(const controller::acl_entry& a) {
  return sec::acl_binding{sec::resource_type_from_code(a.resource_type), a.resource_name,
                          sec::pattern_type_from_code(a.pattern_type), a.principal, a.host,
                          sec::acl_operation_from_code(a.operation), sec::acl_permission_from_code(a.permission_type)};
}

// CreateAcls and DeleteAcls refuse every item alike without an authorizer (SECURITY_DISABLED) or
// without ALTER on the cluster: true when `items` (results with error fields) were refused.
template <class Items>
bool refused_alter(const core& c, request_context& ctx, Items& items) {
  error_code e = error_code::none;
  std::string message;
  if (!authorizer_on(c)) {
    e = error_code::security_disabled;
    message = no_authorizer;
  } else if (!cluster_authorized(ctx, sec::acl_operation::alter)) {
    e = error_code::cluster_authorization_failed;
    message = "Cluster authorization failed.";
  }
  if (e == error_code::none) return false;
  for (auto& r : items) {
    r.error_code = code(e);
    r.error_message = message;
  }
  return true;
}

// ---- CreateAcls ----
using create_req_t = protocol::create_acls_request;
using create_resp_t = protocol::create_acls_response;

boost::asio::awaitable<std::optional<create_resp_t>> create(core& c, request_context& ctx, create_req_t& req) {
  create_resp_t resp;
  resp.results.resize(req.creations.size());
  auto fail_all = [&](error_code e, const std::string& message) {
    for (auto& r : resp.results) {
      r.error_code = code(e);
      r.error_message = message;
    }
  };
  if (refused_alter(c, ctx, resp.results)) co_return resp;
  std::vector<sec::acl_binding> bindings;
  for (const auto& a : req.creations) {
    bindings.push_back(sec::acl_binding{sec::resource_type_from_code(a.resource_type), a.resource_name,
                                        sec::pattern_type_from_code(a.resource_pattern_type), a.principal, a.host,
                                        sec::acl_operation_from_code(a.operation),
                                        sec::acl_permission_from_code(a.permission_type)});
    if (sec::has_unknown_element(bindings.back())) {
      fail_all(error_code::invalid_request, "CreatableAcls contain unknown elements");
      co_return resp;
    }
  }
  std::vector<controller::acl_entry> valid;
  std::vector<size_t> valid_index;
  for (size_t i = 0; i < bindings.size(); ++i) {
    if (auto why = sec::validate_acl_binding(bindings[i])) {
      resp.results[i].error_code = code(error_code::invalid_request);
      resp.results[i].error_message = *why;
      continue;
    }
    const auto& a = req.creations[i];
    valid.push_back(controller::acl_entry{uuid{}, a.resource_type, a.resource_name, a.resource_pattern_type,
                                          a.principal, a.host, a.operation, a.permission_type});
    valid_index.push_back(i);
  }
  if (!valid.empty()) {
    auto r = co_await controller_for(c, ctx).create_acls(std::move(valid));
    if (!r) {
      for (size_t i : valid_index) {
        resp.results[i].error_code = code(r.error().code);
        resp.results[i].error_message = r.error().message;
      }
    } else {
      log::get("server").info("{} ACL(s) created by {} from {}", valid_index.size(), ctx.session->principal,
                              ctx.conn.peer);
    }
  }
  co_return resp;
}

// ---- DescribeAcls ----
using describe_req_t = protocol::describe_acls_request;
using describe_resp_t = protocol::describe_acls_response;

boost::asio::awaitable<std::optional<describe_resp_t>> describe(core& c, request_context& ctx, describe_req_t& req) {
  describe_resp_t resp;
  if (!authorizer_on(c)) {
    resp.error_code = code(error_code::security_disabled);
    resp.error_message = no_authorizer;
    co_return resp;
  }
  if (!cluster_authorized(ctx, sec::acl_operation::describe)) {
    resp.error_code = code(error_code::cluster_authorization_failed);
    resp.error_message = "Cluster authorization failed.";
    co_return resp;
  }
  const auto filter = to_filter(req.resource_type_filter, req.resource_name_filter, req.pattern_type_filter,
                                req.principal_filter, req.host_filter, req.operation, req.permission_type);
  if (sec::has_unknown_element(filter)) {
    resp.error_code = code(error_code::invalid_request);
    resp.error_message = "The DescribeAclsRequest contains UNKNOWN elements";
    co_return resp;
  }
  if (auto why = sec::validate_acl_filter(filter)) {
    resp.error_code = code(error_code::invalid_request);
    resp.error_message = *why;
    co_return resp;
  }
  // Grouped by resource pattern, as Kafka answers.
  std::map<std::tuple<int8_t, std::string, int8_t>, std::vector<const controller::acl_entry*>> groups;
  for (const auto& [id, a] : c.image().acls())
    if (sec::matches(filter, to_binding(a))) groups[{a.resource_type, a.resource_name, a.pattern_type}].push_back(&a);
  for (const auto& [key, acls] : groups) {
    auto& res = resp.resources.emplace_back();
    res.resource_type = std::get<0>(key);
    res.resource_name = std::get<1>(key);
    res.pattern_type = std::get<2>(key);
    for (const auto* a : acls) {
      auto& d = res.acls.emplace_back();
      d.principal = a->principal;
      d.host = a->host;
      d.operation = a->operation;
      d.permission_type = a->permission_type;
    }
  }
  co_return resp;
}

// ---- DeleteAcls ----
using delete_req_t = protocol::delete_acls_request;
using delete_resp_t = protocol::delete_acls_response;

boost::asio::awaitable<std::optional<delete_resp_t>> remove(core& c, request_context& ctx, delete_req_t& req) {
  delete_resp_t resp;
  resp.filter_results.resize(req.filters.size());
  auto fail_all = [&](error_code e, const std::string& message) {
    for (auto& r : resp.filter_results) {
      r.error_code = code(e);
      r.error_message = message;
    }
  };
  if (refused_alter(c, ctx, resp.filter_results)) co_return resp;
  std::vector<acl_filter> valid;
  std::vector<size_t> valid_index;
  for (size_t i = 0; i < req.filters.size(); ++i) {
    const auto& f = req.filters[i];
    const auto filter = to_filter(f.resource_type_filter, f.resource_name_filter, f.pattern_type_filter,
                                  f.principal_filter, f.host_filter, f.operation, f.permission_type);
    if (sec::has_unknown_element(filter)) {
      fail_all(error_code::invalid_request, "The DeleteAclsRequest contains UNKNOWN elements");
      co_return resp;
    }
    if (auto why = sec::validate_acl_filter(filter)) {
      resp.filter_results[i].error_code = code(error_code::invalid_request);
      resp.filter_results[i].error_message = *why;
      continue;
    }
    valid.push_back(acl_filter{f.resource_type_filter, f.resource_name_filter, f.pattern_type_filter,
                               f.principal_filter, f.host_filter, f.operation, f.permission_type});
    valid_index.push_back(i);
  }
  if (valid.empty()) co_return resp;
  auto r = co_await controller_for(c, ctx).delete_acls(std::move(valid));
  if (!r) {
    for (size_t i : valid_index) {
      resp.filter_results[i].error_code = code(r.error().code);
      resp.filter_results[i].error_message = r.error().message;
    }
    co_return resp;
  }
  size_t removed = 0;
  for (size_t k = 0; k < valid_index.size() && k < r->size(); ++k) {
    auto& out = resp.filter_results[valid_index[k]];
    for (const auto& a : (*r)[k]) {
      auto& m = out.matching_acls.emplace_back();
      m.resource_type = a.resource_type;
      m.resource_name = a.resource_name;
      m.pattern_type = a.pattern_type;
      m.principal = a.principal;
      m.host = a.host;
      m.operation = a.operation;
      m.permission_type = a.permission_type;
      ++removed;
    }
  }
  log::get("server").info("{} ACL(s) deleted by {} from {}", removed, ctx.session->principal, ctx.conn.peer);
  co_return resp;
}

}  // namespace

api_route create_acls_route() { return make_route<create_req_t, create_resp_t, &create, 1, 3>("CreateAcls"); }
api_route describe_acls_route() { return make_route<describe_req_t, describe_resp_t, &describe, 1, 3>("DescribeAcls"); }
api_route delete_acls_route() { return make_route<delete_req_t, delete_resp_t, &remove, 1, 3>("DeleteAcls"); }

}  // namespace gregor::server
