# DescribeGroups (classic groups). v3 adds authorized operations; v4 GroupInstanceId; v5 is
# flexible; v6 adds per-group error messages.
api DescribeGroups key=15 versions=0-6 flexible=5+

request
  Groups []string
  IncludeAuthorizedOperations bool v3+

response
  ThrottleTimeMs int32 v1+ ignorable
  Groups []DescribedGroup
    ErrorCode int16
    ErrorMessage string v6+ nullable=6+ default=null
    GroupId string
    GroupState string
    ProtocolType string
    ProtocolData string
    Members []DescribedGroupMember
      MemberId string
      GroupInstanceId string v4+ nullable=4+ default=null ignorable
      ClientId string
      ClientHost string
      MemberMetadata bytes
      MemberAssignment bytes
    AuthorizedOperations int32 v3+ default=-2147483648
