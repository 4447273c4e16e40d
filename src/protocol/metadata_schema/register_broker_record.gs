# RegisterBrokerRecord: a broker registration. v1 adds InControlledShutdown,
# v2 IsMigratingZkBroker, v3 LogDirs, v4 CordonedLogDirs.
record RegisterBrokerRecord type=0 versions=0-4 flexible=0+
  BrokerId int32
  IsMigratingZkBroker bool v2+ default=false
  IncarnationId uuid
  BrokerEpoch int64
  EndPoints []BrokerEndpoint
    Name string
    Host string
    Port uint16
    SecurityProtocol int16
  Features []BrokerFeature
    Name string
    MinSupportedVersion int16
    MaxSupportedVersion int16
  Rack string nullable default=""
  Fenced bool default=true
  InControlledShutdown bool v1+ default=false
  LogDirs []uuid v3+ tag=0
  CordonedLogDirs []uuid v4+ nullable tag=1 default=null
