# UnregisterBrokerRecord: removes a broker registration.
record UnregisterBrokerRecord type=1 versions=0 flexible=0+
  BrokerId int32
  BrokerEpoch int64
