# BeginQuorumEpoch (KRaft): a newly elected leader tells the voters about its epoch.
# v1 is flexible and adds the voter key and leader endpoints (KIP-853).
api BeginQuorumEpoch key=53 versions=0-1 flexible=1+

request
  ClusterId string nullable default=null
  VoterId int32 v1+ default=-1 ignorable
  Topics []TopicData
    TopicName string
    Partitions []PartitionData
      PartitionIndex int32
      VoterDirectoryId uuid v1+ ignorable
      LeaderId int32
      LeaderEpoch int32
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
