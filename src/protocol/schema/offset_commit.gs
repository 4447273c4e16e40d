# OffsetCommit. Kafka 4 removed v0-1. v2-4 carry RetentionTimeMs; v6 leader epochs; v7 static
# membership; v8 is flexible; v9 member epochs (KIP-848); v10 topic ids.
api OffsetCommit key=8 versions=2-10 flexible=8+

request
  GroupId string
  GenerationIdOrMemberEpoch int32 v1+ default=-1
  MemberId string v1+
  GroupInstanceId string v7+ nullable=7+ default=null
  RetentionTimeMs int64 v2-4 default=-1
  Topics []OffsetCommitRequestTopic
    Name string v0-9
    TopicId uuid v10+
    Partitions []OffsetCommitRequestPartition
      PartitionIndex int32
      CommittedOffset int64
      CommittedLeaderEpoch int32 v6+ default=-1 ignorable
      CommittedMetadata string nullable

response
  ThrottleTimeMs int32 v3+ ignorable
  Topics []OffsetCommitResponseTopic
    Name string v0-9
    TopicId uuid v10+
    Partitions []OffsetCommitResponsePartition
      PartitionIndex int32
      ErrorCode int16
