# UpdateRaftVoter: a voter updates its endpoints and supported kraft.version (KIP-853).
api UpdateRaftVoter key=82 versions=0 flexible=0+

request
  ClusterId string nullable
  CurrentLeaderEpoch int32
  VoterId int32
  VoterDirectoryId uuid
  Listeners []Listener
    Name string
    Host string
    Port uint16
  KRaftVersionFeature KRaftVersionFeature
    MinSupportedVersion int16
    MaxSupportedVersion int16

response
  ThrottleTimeMs int32
  ErrorCode int16
  CurrentLeader CurrentLeader tag=0
    LeaderId int32 default=-1
    LeaderEpoch int32 default=-1
    Host string
    Port int32
