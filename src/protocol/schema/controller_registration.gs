# ControllerRegistration: a controller registers its endpoints and features (KIP-919).
api ControllerRegistration key=70 versions=0 flexible=0+

request
  ControllerId int32
  IncarnationId uuid
  ZkMigrationReady bool
  Listeners []Listener
    Name string
    Host string
    Port uint16
    SecurityProtocol int16
  Features []Feature
    Name string
    MinSupportedVersion int16
    MaxSupportedVersion int16

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable
