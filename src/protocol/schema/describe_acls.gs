# DescribeAcls: the ACL bindings that match one filter (kafka-acls.sh --list).
api DescribeAcls key=29 versions=1-3 flexible=2+

request
  ResourceTypeFilter int8
  ResourceNameFilter string nullable
  PatternTypeFilter int8 v1+ default=3
  PrincipalFilter string nullable
  HostFilter string nullable
  Operation int8
  PermissionType int8

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable
  Resources []DescribeAclsResource
    ResourceType int8
    ResourceName string
    PatternType int8 v1+ default=3
    Acls []AclDescription
      Principal string
      Host string
      Operation int8
      PermissionType int8
