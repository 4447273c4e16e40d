# JoinGroup (classic group protocol). v1 adds RebalanceTimeoutMs; v5 static membership; v6 is
# flexible; v7 ProtocolType in the response; v8 Reason; v9 SkipAssignment.
api JoinGroup key=11 versions=0-9 flexible=6+

request
  GroupId string
  SessionTimeoutMs int32
  RebalanceTimeoutMs int32 v1+ default=-1 ignorable
  MemberId string
  GroupInstanceId string v5+ nullable=5+ default=null
  ProtocolType string
  Protocols []JoinGroupRequestProtocol
    Name string
    Metadata bytes
  Reason string v8+ nullable=8+ default=null ignorable

response
  ThrottleTimeMs int32 v2+ ignorable
  ErrorCode int16
  GenerationId int32 default=-1
  ProtocolType string v7+ nullable=7+ default=null ignorable
  ProtocolName string nullable=7+
  Leader string
  SkipAssignment bool v9+ default=false
  MemberId string
  Members []JoinGroupResponseMember
    MemberId string
    GroupInstanceId string v5+ nullable=5+ default=null ignorable
    Metadata bytes
