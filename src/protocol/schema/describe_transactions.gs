# DescribeTransactions: the coordinator's state of transactional ids (kafka-transactions.sh describe).
api DescribeTransactions key=65 versions=0-0 flexible=0+

request
  TransactionalIds []string

response
  ThrottleTimeMs int32
  TransactionStates []TransactionState
    ErrorCode int16
    TransactionalId string
    TransactionState string
    TransactionTimeoutMs int32
    TransactionStartTimeMs int64
    ProducerId int64
    ProducerEpoch int16
    Topics []TopicData
      Topic string
      Partitions []int32
