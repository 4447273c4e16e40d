# EndTxn: commits or aborts the transaction. v5 (transaction version 2) answers the producer id and
# the epoch the coordinator bumped to.
api EndTxn key=26 versions=0-5 flexible=3+

request
  TransactionalId string
  ProducerId int64
  ProducerEpoch int16
  Committed bool

response
  ThrottleTimeMs int32
  ErrorCode int16
  ProducerId int64 v5+ default=-1 ignorable
  ProducerEpoch int16 v5+ default=-1 ignorable
