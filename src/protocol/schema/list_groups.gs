# ListGroups. v3 is flexible; v4 filters by state; v5 filters by group type.
api ListGroups key=16 versions=0-5 flexible=3+

request
  StatesFilter []string v4+
  TypesFilter []string v5+

response
  ThrottleTimeMs int32 v1+ ignorable
  ErrorCode int16
  Groups []ListedGroup
    GroupId string
    ProtocolType string
    GroupState string v4+ ignorable
    GroupType string v5+ ignorable
