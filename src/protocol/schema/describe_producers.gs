# DescribeProducers: active idempotent/transactional producers of partitions.
api DescribeProducers key=61 versions=0-0 flexible=0+

request
  Topics []TopicRequest
    Name string
    PartitionIndexes []int32

response
  ThrottleTimeMs int32
  Topics []TopicResponse
    Name string
    Partitions []PartitionResponse
      PartitionIndex int32
      ErrorCode int16
      ErrorMessage string nullable default=null
      ActiveProducers []ProducerState
        ProducerId int64
        ProducerEpoch int32
        LastSequence int32 default=-1
        LastTimestamp int64 default=-1
        CoordinatorEpoch int32
        CurrentTxnStartOffset int64 default=-1
