#pragma once
// The route of every API we serve; each is defined in its own file in this directory.
#include "../route.h"

namespace gregor::server {

api_route api_versions_route();
api_route metadata_route();
api_route produce_route();
api_route fetch_route();
api_route list_offsets_route();
api_route create_topics_route();
api_route delete_topics_route();
api_route create_partitions_route();
api_route describe_configs_route();
api_route describe_cluster_route();

inline int16_t code(protocol::error_code e) { return protocol::code_of(e); }

}  // namespace gregor::server
