# SyncGroup (classic group protocol). v3 adds GroupInstanceId; v4 is flexible; v5 adds the
# protocol type and name.
api SyncGroup key=14 versions=0-5 flexible=4+

request
  GroupId string
  GenerationId int32
  MemberId string
  GroupInstanceId string v3+ nullable=3+ default=null
  ProtocolType string v5+ nullable=5+ default=null ignorable
  ProtocolName string v5+ nullable=5+ default=null ignorable
  Assignments []SyncGroupRequestAssignment
    MemberId string
    Assignment bytes

response
  ThrottleTimeMs int32 v1+ ignorable
  ErrorCode int16
  ProtocolType string v5+ nullable=5+ default=null ignorable
  ProtocolName string v5+ nullable=5+ default=null ignorable
  Assignment bytes
