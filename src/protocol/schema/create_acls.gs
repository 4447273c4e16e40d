# CreateAcls: add ACL bindings (kafka-acls.sh --add). v2 is flexible.
api CreateAcls key=30 versions=1-3 flexible=2+

request
  Creations []AclCreation
    ResourceType int8
    ResourceName string
    ResourcePatternType int8 v1+ default=3
    Principal string
    Host string
    Operation int8
    PermissionType int8

response
  ThrottleTimeMs int32
  Results []AclCreationResult
    ErrorCode int16
    ErrorMessage string nullable
