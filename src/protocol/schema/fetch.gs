# Fetch: read record batches (consumers and follower replicas). Kafka 4 removed v0-3. v7 adds
# fetch sessions; v11 rack id and preferred read replica; v12 is flexible (diverging epoch,
# current leader, snapshot id); v13 replaces topic names with ids; v15 moves the replica id into
# ReplicaState; v16 adds NodeEndpoints; v17 ReplicaDirectoryId; v18 the follower's high watermark.
api Fetch key=1 versions=4-18 flexible=12+

request
  ClusterId string v12+ nullable=12+ default=null tag=0 ignorable
  ReplicaId int32 v0-14 default=-1
  ReplicaState ReplicaState v15+ tag=1
    ReplicaId int32 v15+ default=-1
    ReplicaEpoch int64 v15+ default=-1
  MaxWaitMs int32
  MinBytes int32
  MaxBytes int32 v3+ default=0x7fffffff ignorable
  IsolationLevel int8 v4+ default=0 ignorable
  SessionId int32 v7+ default=0 ignorable
  SessionEpoch int32 v7+ default=-1 ignorable
  Topics []FetchTopic
    Topic string v0-12 ignorable
    TopicId uuid v13+ ignorable
    Partitions []FetchPartition
      Partition int32
      CurrentLeaderEpoch int32 v9+ default=-1 ignorable
      FetchOffset int64
      LastFetchedEpoch int32 v12+ default=-1
      LogStartOffset int64 v5+ default=-1 ignorable
      PartitionMaxBytes int32
      ReplicaDirectoryId uuid v17+ tag=0 ignorable
      HighWatermark int64 v18+ tag=1 default=9223372036854775807 ignorable
  ForgottenTopicsData []ForgottenTopic v7+
    Topic string v7-12 ignorable
    TopicId uuid v13+ ignorable
    Partitions []int32 v7+
  RackId string v11+ default="" ignorable

response
  ThrottleTimeMs int32 v1+ ignorable
  ErrorCode int16 v7+ ignorable
  SessionId int32 v7+ default=0
  Responses []FetchableTopicResponse
    Topic string v0-12 ignorable
    TopicId uuid v13+ ignorable
    Partitions []PartitionData
      PartitionIndex int32
      ErrorCode int16
      HighWatermark int64
      LastStableOffset int64 v4+ default=-1 ignorable
      LogStartOffset int64 v5+ default=-1 ignorable
      DivergingEpoch EpochEndOffset v12+ tag=0
        Epoch int32 v12+ default=-1
        EndOffset int64 v12+ default=-1
      CurrentLeader LeaderIdAndEpoch v12+ tag=1
        LeaderId int32 v12+ default=-1
        LeaderEpoch int32 v12+ default=-1
      SnapshotId SnapshotId v12+ tag=2
        EndOffset int64 default=-1
        Epoch int32 default=-1
      AbortedTransactions []AbortedTransaction v4+ nullable=4+ ignorable
        ProducerId int64 v4+
        FirstOffset int64 v4+
      PreferredReadReplica int32 v11+ default=-1
      Records records nullable
  NodeEndpoints []NodeEndpoint v16+ tag=0
    NodeId int32 v16+
    Host string v16+
    Port int32 v16+
    Rack string v16+ nullable=16+ default=null
