# RemoveRaftVoter: removes a voter from the KRaft quorum (KIP-853).
api RemoveRaftVoter key=81 versions=0 flexible=0+

request
  ClusterId string nullable
  VoterId int32
  VoterDirectoryId uuid

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable ignorable
