# Heartbeat (classic group protocol). v3 adds GroupInstanceId; v4 is flexible.
api Heartbeat key=12 versions=0-4 flexible=4+

request
  GroupId string
  GenerationId int32
  MemberId string
  GroupInstanceId string v3+ nullable=3+ default=null

response
  ThrottleTimeMs int32 v1+ ignorable
  ErrorCode int16
