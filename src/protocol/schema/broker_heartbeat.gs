# BrokerHeartbeat: a registered broker's periodic heartbeat; the answer fences/unfences it.
# v1 adds OfflineLogDirs, v2 CordonedLogDirs (both tagged, request only).
api BrokerHeartbeat key=63 versions=0-2 flexible=0+

request
  BrokerId int32
  BrokerEpoch int64 default=-1
  CurrentMetadataOffset int64
  WantFence bool
  WantShutDown bool
  OfflineLogDirs []uuid v1+ tag=0
  CordonedLogDirs []uuid v2+ nullable tag=1 default=null

response
  ThrottleTimeMs int32
  ErrorCode int16
  IsCaughtUp bool default=false
  IsFenced bool default=true
  ShouldShutDown bool
