# ElectLeaders: preferred or unclean leader election. v1 adds ElectionType (KIP-460) and
# a top-level error code; v2 is flexible.
api ElectLeaders key=43 versions=0-2 flexible=2+

request
  ElectionType int8 v1+
  TopicPartitions []TopicPartitions nullable
    Topic string
    Partitions []int32
  TimeoutMs int32 default=60000

response
  ThrottleTimeMs int32
  ErrorCode int16 v1+
  ReplicaElectionResults []ReplicaElectionResult
    Topic string
    PartitionResult []PartitionResult
      PartitionId int32
      ErrorCode int16
      ErrorMessage string nullable
