# Produce: write record batches to partitions. v3 adds TransactionalId; v9 is flexible;
# v10 adds leader discovery (CurrentLeader, NodeEndpoints); v13 replaces topic names with ids.
# Versions 0-2 are advertised (librdkafka relies on it, KAFKA-18659) but refused by handlers.
api Produce key=0 versions=0-13 flexible=9+

request
  TransactionalId string v3+ nullable=3+ default=null
  Acks int16
  TimeoutMs int32
  TopicData []TopicProduceData
    Name string v0-12 ignorable
    TopicId uuid v13+ ignorable
    PartitionData []PartitionProduceData
      Index int32
      Records records nullable

response
  Responses []TopicProduceResponse
    Name string v0-12 ignorable
    TopicId uuid v13+ ignorable
    PartitionResponses []PartitionProduceResponse
      Index int32
      ErrorCode int16
      BaseOffset int64
      LogAppendTimeMs int64 v2+ default=-1 ignorable
      LogStartOffset int64 v5+ default=-1 ignorable
      RecordErrors []BatchIndexAndErrorMessage v8+ ignorable
        BatchIndex int32 v8+
        BatchIndexErrorMessage string v8+ nullable=8+ default=null
      ErrorMessage string v8+ nullable=8+ default=null ignorable
      CurrentLeader LeaderIdAndEpoch v10+ tag=0 ignorable
        LeaderId int32 v10+ default=-1
        LeaderEpoch int32 v10+ default=-1
  ThrottleTimeMs int32 v1+ default=0 ignorable
  NodeEndpoints []NodeEndpoint v10+ tag=0 ignorable
    NodeId int32 v10+
    Host string v10+
    Port int32 v10+
    Rack string v10+ nullable=10+ default=null
