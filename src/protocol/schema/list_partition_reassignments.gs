# ListPartitionReassignments: the reassignments in progress (KIP-455).
api ListPartitionReassignments key=46 versions=0 flexible=0+

request
  TimeoutMs int32 default=60000
  Topics []ListPartitionReassignmentsTopics nullable default=null
    Name string
    PartitionIndexes []int32

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable
  Topics []OngoingTopicReassignment
    Name string
    Partitions []OngoingPartitionReassignment
      PartitionIndex int32
      Replicas []int32
      AddingReplicas []int32
      RemovingReplicas []int32
