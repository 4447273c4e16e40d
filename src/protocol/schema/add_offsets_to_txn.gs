# AddOffsetsToTxn: adds a group's offsets partition to the transaction (sendOffsetsToTransaction).
api AddOffsetsToTxn key=25 versions=0-4 flexible=3+

request
  TransactionalId string
  ProducerId int64
  ProducerEpoch int16
  GroupId string

response
  ThrottleTimeMs int32
  ErrorCode int16
