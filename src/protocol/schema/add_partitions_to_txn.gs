# AddPartitionsToTxn: adds partitions to a producer's ongoing transaction. v3 is flexible; v4 is
# the broker-to-coordinator batched form (several transactions, VerifyOnly for KIP-890 part 1);
# v5 marks transaction-version-2 clients.
api AddPartitionsToTxn key=24 versions=0-5 flexible=3+

request
  Transactions []AddPartitionsToTxnTransaction v4+
    TransactionalId string v4+
    ProducerId int64 v4+
    ProducerEpoch int16 v4+
    VerifyOnly bool v4+ default=false
    Topics []AddPartitionsToTxnTopic v4+
  V3AndBelowTransactionalId string v0-3
  V3AndBelowProducerId int64 v0-3
  V3AndBelowProducerEpoch int16 v0-3
  V3AndBelowTopics []AddPartitionsToTxnTopic v0-3
struct AddPartitionsToTxnTopic
  Name string
  Partitions []int32

response
  ThrottleTimeMs int32
  ErrorCode int16 v4+ ignorable
  ResultsByTransaction []AddPartitionsToTxnResult v4+
    TransactionalId string v4+
    TopicResults []AddPartitionsToTxnTopicResult v4+
  ResultsByTopicV3AndBelow []AddPartitionsToTxnTopicResult v0-3
struct AddPartitionsToTxnTopicResult
  Name string
  ResultsByPartition []AddPartitionsToTxnPartitionResult
struct AddPartitionsToTxnPartitionResult
  PartitionIndex int32
  PartitionErrorCode int16
