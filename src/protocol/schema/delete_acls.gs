# DeleteAcls: remove the ACL bindings matching each filter (kafka-acls.sh --remove).
api DeleteAcls key=31 versions=1-3 flexible=2+

request
  Filters []DeleteAclsFilter
    ResourceTypeFilter int8
    ResourceNameFilter string nullable
    PatternTypeFilter int8 v1+ default=3
    PrincipalFilter string nullable
    HostFilter string nullable
    Operation int8
    PermissionType int8

response
  ThrottleTimeMs int32
  FilterResults []DeleteAclsFilterResult
    ErrorCode int16
    ErrorMessage string nullable
    MatchingAcls []DeleteAclsMatchingAcl
      ErrorCode int16
      ErrorMessage string nullable
      ResourceType int8
      ResourceName string
      PatternType int8 v1+ default=3
      Principal string
      Host string
      Operation int8
      PermissionType int8
