# LeaderChangeMessage: control record (type 2) a new Raft leader writes first in its epoch.
# The value has no version prefix; Kafka 4.3.1 writes and reads version 0. v1 adds VoterDirectoryId.
record LeaderChangeMessage control=2 versions=0-1 flexible=0+
  Version int16
  LeaderId int32
  Voters []Voter
  GrantingVoters []Voter
struct Voter
  VoterId int32
  VoterDirectoryId uuid v1+
