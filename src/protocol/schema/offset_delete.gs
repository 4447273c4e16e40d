# OffsetDelete: delete committed offsets of a group.
api OffsetDelete key=47 versions=0-0 flexible=none

request
  GroupId string
  Topics []OffsetDeleteRequestTopic
    Name string
    Partitions []OffsetDeleteRequestPartition
      PartitionIndex int32

response
  ErrorCode int16
  ThrottleTimeMs int32
  Topics []OffsetDeleteResponseTopic
    Name string
    Partitions []OffsetDeleteResponsePartition
      PartitionIndex int32
      ErrorCode int16
