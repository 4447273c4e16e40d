# LeaveGroup (classic group protocol). v3 batches members; v4 is flexible; v5 adds Reason.
api LeaveGroup key=13 versions=0-5 flexible=4+

request
  GroupId string
  MemberId string v0-2
  Members []MemberIdentity v3+
    MemberId string v3+
    GroupInstanceId string v3+ nullable=3+ default=null
    Reason string v5+ nullable=5+ default=null ignorable

response
  ThrottleTimeMs int32 v1+ ignorable
  ErrorCode int16
  Members []MemberResponse v3+
    MemberId string v3+
    GroupInstanceId string v3+ nullable=3+
    ErrorCode int16 v3+
