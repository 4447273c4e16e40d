# EndQuorumEpoch (KRaft): a resigning leader asks the voters to start an election.
# v1 is flexible, names PreferredCandidates (with directory ids) instead of PreferredSuccessors and
# adds leader endpoints (KIP-853).
api EndQuorumEpoch key=54 versions=0-1 flexible=1+

request
  ClusterId string nullable default=null
  Topics []TopicData
    TopicName string
    Partitions []PartitionData
      PartitionIndex int32
      LeaderId int32
      LeaderEpoch int32
      PreferredSuccessors []int32 v0 ignorable
      PreferredCandidates []ReplicaInfo v1+ ignorable
        CandidateId int32 v1+
        CandidateDirectoryId uuid v1+
  LeaderEndpoints []LeaderEndpoint v1+ ignorable
    Name string v1+
    Host string v1+
    Port uint16 v1+

response
  ErrorCode int16
  Topics []TopicData
    TopicName string
    Partitions []PartitionData
      PartitionIndex int32
      ErrorCode int16
      LeaderId int32
      LeaderEpoch int32
  NodeEndpoints []NodeEndpoint v1+ tag=0
    NodeId int32 v1+
    Host string v1+
    Port uint16 v1+
