# AllocateProducerIds: a broker asks the controller for a block of producer ids.
api AllocateProducerIds key=67 versions=0 flexible=0+

request
  BrokerId int32
  BrokerEpoch int64 default=-1

response
  ThrottleTimeMs int32
  ErrorCode int16
  ProducerIdStart int64
  ProducerIdLen int32
