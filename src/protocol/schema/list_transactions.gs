# ListTransactions: transactional ids a coordinator knows, filtered by state, producer id, duration
# (v1) and id pattern (v2) (kafka-transactions.sh list).
api ListTransactions key=66 versions=0-2 flexible=0+

request
  StateFilters []string
  ProducerIdFilters []int64
  DurationFilter int64 v1+ default=-1
  TransactionalIdPattern string v2+ nullable default=null

response
  ThrottleTimeMs int32
  ErrorCode int16
  UnknownStateFilters []string
  TransactionStates []TransactionState
    TransactionalId string
    ProducerId int64
    TransactionState string
