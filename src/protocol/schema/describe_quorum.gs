# DescribeQuorum: the state of the KRaft quorum (leader, voters, observers). v1 adds
# fetch and caught-up times (KIP-836); v2 error messages, directory ids and Nodes (KIP-853).
api DescribeQuorum key=55 versions=0-2 flexible=0+

request
  Topics []TopicData
    TopicName string
    Partitions []PartitionData
      PartitionIndex int32

response
  ErrorCode int16
  ErrorMessage string v2+ nullable ignorable
  Topics []TopicData
    TopicName string
    Partitions []PartitionData
      PartitionIndex int32
      ErrorCode int16
      ErrorMessage string v2+ nullable ignorable
      LeaderId int32
      LeaderEpoch int32
      HighWatermark int64
      CurrentVoters []ReplicaState
      Observers []ReplicaState
  Nodes []Node v2+
    NodeId int32 v2+
    Listeners []Listener v2+
      Name string v2+
      Host string v2+
      Port uint16 v2+
struct ReplicaState
  ReplicaId int32
  ReplicaDirectoryId uuid v2+
  LogEndOffset int64
  LastFetchTimestamp int64 v1+ default=-1 ignorable
  LastCaughtUpTimestamp int64 v1+ default=-1 ignorable
