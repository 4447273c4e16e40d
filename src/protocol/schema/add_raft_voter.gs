# AddRaftVoter: adds a voter to the KRaft quorum (KIP-853). v1 adds AckWhenCommitted.
api AddRaftVoter key=80 versions=0-1 flexible=0+

request
  ClusterId string nullable
  TimeoutMs int32
  VoterId int32
  VoterDirectoryId uuid
  Listeners []Listener
    Name string
    Host string
    Port uint16
  AckWhenCommitted bool v1+ default=true

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable ignorable
