#pragma once
// security_rules: the glue between the security module's pure rules (ACL filter matching, SCRAM
// key derivation) and the controller's decisions, shared by every controller_client
// implementation (single node, active controller, the controller side of forwarding).
#include <functional>
#include <optional>
#include <vector>

#include "controller_client.h"
#include "gregor/controller/quorum_controller.h"

namespace gregor::server {

// Kafka's AclBindingFilter.matches for one stored ACL.
std::function<bool(const controller::acl_entry&)> acl_filter_predicate(const acl_filter& f);
std::vector<std::function<bool(const controller::acl_entry&)>> acl_filter_predicates(
    const std::vector<acl_filter>& filters);
// Upsertions become credentials (StoredKey and ServerKey from the salted password).
std::vector<controller::quorum_controller::scram_change> to_scram_changes(const std::vector<scram_alteration>& changes);
// The controller's client quota answers with Kafka's error codes.
std::vector<quota_outcome> to_quota_outcomes(const std::vector<controller::quorum_controller::quota_result>& results);

}  // namespace gregor::server
