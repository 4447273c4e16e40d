# FenceBrokerRecord: fences a broker (older form of BrokerRegistrationChangeRecord).
record FenceBrokerRecord type=7 versions=0 flexible=0+
  Id int32
  Epoch int64
