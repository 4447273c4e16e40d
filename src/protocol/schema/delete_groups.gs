# DeleteGroups. v2 is flexible; v3 adds per-group error messages.
api DeleteGroups key=42 versions=0-3 flexible=2+

request
  GroupsNames []string

response
  ThrottleTimeMs int32
  Results []DeletableGroupResult
    GroupId string
    ErrorCode int16
    ErrorMessage string v3+ nullable=3+ default=null
