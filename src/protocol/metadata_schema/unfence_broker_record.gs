# UnfenceBrokerRecord: unfences a broker (older form of BrokerRegistrationChangeRecord).
record UnfenceBrokerRecord type=8 versions=0 flexible=0+
  Id int32
  Epoch int64
