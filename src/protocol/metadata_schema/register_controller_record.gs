# RegisterControllerRecord: a controller's registration (endpoints, features).
record RegisterControllerRecord type=27 versions=0 flexible=0+
  ControllerId int32
  IncarnationId uuid
  ZkMigrationReady bool
  EndPoints []ControllerEndpoint
    Name string
    Host string
    Port uint16
    SecurityProtocol int16
  Features []ControllerFeature
    Name string
    MinSupportedVersion int16
    MaxSupportedVersion int16
