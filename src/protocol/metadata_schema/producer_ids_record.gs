# ProducerIdsRecord: the next producer id block the controller will hand out.
record ProducerIdsRecord type=15 versions=0 flexible=0+
  BrokerId int32
  BrokerEpoch int64 default=-1
  NextProducerId int64
