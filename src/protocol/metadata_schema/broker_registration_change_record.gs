# BrokerRegistrationChangeRecord: fences/unfences a broker or changes its controlled
# shutdown state or log dirs. v1 adds InControlledShutdown, v2 LogDirs, v3 CordonedLogDirs.
record BrokerRegistrationChangeRecord type=17 versions=0-3 flexible=0+
  BrokerId int32
  BrokerEpoch int64
  Fenced int8 tag=0
  InControlledShutdown int8 v1+ tag=1
  LogDirs []uuid v2+ tag=2
  CordonedLogDirs []uuid v3+ nullable tag=3 default=null
