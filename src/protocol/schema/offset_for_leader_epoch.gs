# OffsetForLeaderEpoch: end offset of a leader epoch (follower truncation, client divergence
# checks). Kafka 4 removed v0-1. v3 adds ReplicaId; v4 is flexible.
api OffsetForLeaderEpoch key=23 versions=2-4 flexible=4+

request
  ReplicaId int32 v3+ default=-2 ignorable
  Topics []OffsetForLeaderTopic
    Topic string
    Partitions []OffsetForLeaderPartition
      Partition int32
      CurrentLeaderEpoch int32 v2+ default=-1 ignorable
      LeaderEpoch int32

response
  ThrottleTimeMs int32 v2+ ignorable
  Topics []OffsetForLeaderTopicResult
    Topic string
    Partitions []EpochEndOffset
      ErrorCode int16
      Partition int32
      LeaderEpoch int32 v1+ default=-1 ignorable
      EndOffset int64 default=-1
