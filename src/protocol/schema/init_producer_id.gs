# InitProducerId: allocate a producer id (idempotence, transactions). v2 is flexible; v3 lets a
# producer bump its epoch by passing its current id and epoch; v4-5 add error semantics only; v6 adds two-phase commit (KIP-939).
api InitProducerId key=22 versions=0-6 flexible=2+

request
  TransactionalId string nullable
  TransactionTimeoutMs int32
  ProducerId int64 v3+ default=-1
  ProducerEpoch int16 v3+ default=-1
  Enable2Pc bool v6+ default=false
  KeepPreparedTxn bool v6+ default=false

response
  ThrottleTimeMs int32 ignorable
  ErrorCode int16
  ProducerId int64 default=-1
  ProducerEpoch int16
  OngoingTxnProducerId int64 v6+ default=-1
  OngoingTxnProducerEpoch int16 v6+ default=-1
