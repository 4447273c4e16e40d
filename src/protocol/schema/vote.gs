# Vote (KRaft): a candidate (or, from v2, a pre-candidate: PreVote, KIP-996) asks the voters
# for their vote. v1 adds voter and replica directory ids and the leader endpoints (KIP-853).
api Vote key=52 versions=0-2 flexible=0+

request
  ClusterId string nullable default=null
  VoterId int32 v1+ default=-1 ignorable
  Topics []TopicData
    TopicName string
    Partitions []PartitionData
      PartitionIndex int32
      ReplicaEpoch int32
      ReplicaId int32
      ReplicaDirectoryId uuid v1+ ignorable
      VoterDirectoryId uuid v1+ ignorable
      LastOffsetEpoch int32
      LastOffset int64
      PreVote bool v2+

response
  ErrorCode int16
  Topics []TopicData
    TopicName string
    Partitions []PartitionData
      PartitionIndex int32
      ErrorCode int16
      LeaderId int32
      LeaderEpoch int32
      VoteGranted bool
  NodeEndpoints []NodeEndpoint v1+ tag=0
    NodeId int32 v1+
    Host string v1+
    Port uint16 v1+
