# OffsetFetch. Kafka 4 removed v0. v2 allows all topics (null) and a top-level error; v5 leader
# epochs; v6 is flexible; v7 RequireStable; v8 batches groups; v9 member epochs; v10 topic ids.
api OffsetFetch key=9 versions=1-10 flexible=6+

request
  GroupId string v0-7
  Topics []OffsetFetchRequestTopic v0-7 nullable=2-7
    Name string v0-7
    PartitionIndexes []int32 v0-7
  Groups []OffsetFetchRequestGroup v8+
    GroupId string v8+
    MemberId string v9+ nullable=9+ default=null
    MemberEpoch int32 v9+ default=-1
    Topics []OffsetFetchRequestTopics v8+ nullable=8+
      Name string v8-9
      TopicId uuid v10+
      PartitionIndexes []int32 v8+
  RequireStable bool v7+ default=false

response
  ThrottleTimeMs int32 v3+ ignorable
  Topics []OffsetFetchResponseTopic v0-7
    Name string v0-7
    Partitions []OffsetFetchResponsePartition v0-7
      PartitionIndex int32 v0-7
      CommittedOffset int64 v0-7
      CommittedLeaderEpoch int32 v5-7 default=-1 ignorable
      Metadata string v0-7 nullable
      ErrorCode int16 v0-7
  ErrorCode int16 v2-7 default=0 ignorable
  Groups []OffsetFetchResponseGroup v8+
    GroupId string v8+
    Topics []OffsetFetchResponseTopics v8+
      Name string v8-9
      TopicId uuid v10+
      Partitions []OffsetFetchResponsePartitions v8+
        PartitionIndex int32 v8+
        CommittedOffset int64 v8+
        CommittedLeaderEpoch int32 v8+ default=-1
        Metadata string v8+ nullable
        ErrorCode int16 v8+
    ErrorCode int16 v8+ default=0
