# AccessControlEntryRecord: adds one ACL (KRaft authorizer).
record AccessControlEntryRecord type=18 versions=0 flexible=0+
  Id uuid
  ResourceType int8
  ResourceName string
  PatternType int8
  Principal string
  Host string
  Operation int8
  PermissionType int8
