# AlterPartitionReassignments: start or cancel partition reassignments (KIP-455).
# v1 adds AllowReplicationFactorChange.
api AlterPartitionReassignments key=45 versions=0-1 flexible=0+

request
  TimeoutMs int32 default=60000
  AllowReplicationFactorChange bool v1+ default=true
  Topics []ReassignableTopic
    Name string
    Partitions []ReassignablePartition
      PartitionIndex int32
      Replicas []int32 nullable default=null

response
  ThrottleTimeMs int32
  AllowReplicationFactorChange bool v1+ default=true ignorable
  ErrorCode int16
  ErrorMessage string nullable
  Responses []ReassignableTopicResponse
    Name string
    Partitions []ReassignablePartitionResponse
      PartitionIndex int32
      ErrorCode int16
      ErrorMessage string nullable
