# BrokerRegistration: a broker registers with the controller quorum. v1 adds
# IsMigratingZkBroker, v2 LogDirs (KIP-858), v3 PreviousBrokerEpoch (KIP-966); v4 changes no field.
api BrokerRegistration key=62 versions=0-4 flexible=0+

request
  BrokerId int32
  ClusterId string
  IncarnationId uuid
  Listeners []Listener
    Name string
    Host string
    Port uint16
    SecurityProtocol int16
  Features []Feature
    Name string
    MinSupportedVersion int16
    MaxSupportedVersion int16
  Rack string nullable
  IsMigratingZkBroker bool v1+ default=false
  LogDirs []uuid v2+ ignorable
  PreviousBrokerEpoch int64 v3+ default=-1 ignorable

response
  ThrottleTimeMs int32
  ErrorCode int16
  BrokerEpoch int64 default=-1
