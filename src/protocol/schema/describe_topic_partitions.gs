# DescribeTopicPartitions: paged topic/partition metadata with eligible leader
# replicas (KIP-966); Cursor and NextCursor are nullable structs.
api DescribeTopicPartitions key=75 versions=0 flexible=0+

request
  Topics []TopicRequest
    Name string
  ResponsePartitionLimit int32 default=2000
  Cursor Cursor nullable default=null
    TopicName string
    PartitionIndex int32

response
  ThrottleTimeMs int32 ignorable
  Topics []DescribeTopicPartitionsResponseTopic
    ErrorCode int16
    Name string nullable
    TopicId uuid ignorable
    IsInternal bool default=false ignorable
    Partitions []DescribeTopicPartitionsResponsePartition
      ErrorCode int16
      PartitionIndex int32
      LeaderId int32
      LeaderEpoch int32 default=-1 ignorable
      ReplicaNodes []int32
      IsrNodes []int32
      EligibleLeaderReplicas []int32 nullable default=null
      LastKnownElr []int32 nullable default=null
      OfflineReplicas []int32 ignorable
    TopicAuthorizedOperations int32 default=-2147483648
  NextCursor Cursor nullable default=null
    TopicName string
    PartitionIndex int32
