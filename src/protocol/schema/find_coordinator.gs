# FindCoordinator: the group or transaction coordinator for a key. v1 adds KeyType; v3 is
# flexible; v4 batches keys (CoordinatorKeys); v6 adds share groups.
api FindCoordinator key=10 versions=0-6 flexible=3+

request
  Key string v0-3
  KeyType int8 v1+ default=0
  CoordinatorKeys []string v4+

response
  ThrottleTimeMs int32 v1+ ignorable
  ErrorCode int16 v0-3
  ErrorMessage string v1-3 nullable=1-3 default=null ignorable
  NodeId int32 v0-3
  Host string v0-3
  Port int32 v0-3
  Coordinators []Coordinator v4+
    Key string v4+
    NodeId int32 v4+
    Host string v4+
    Port int32 v4+
    ErrorCode int16 v4+
    ErrorMessage string v4+ nullable=4+ ignorable
