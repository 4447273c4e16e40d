# ApiVersions: the versions of every API this broker supports. v3 is flexible and adds the
# client software name/version and (tagged) feature information; v5 adds the
# cluster id and node id the client expects (REBOOTSTRAP_REQUIRED on mismatch). The response always uses
# response header v0 (see headers.h).
api ApiVersions key=18 versions=0-5 flexible=3+

request
  ClientSoftwareName string v3+ ignorable
  ClientSoftwareVersion string v3+ ignorable
  ClusterId string v5+ nullable=5+ default=null
  NodeId int32 v5+ default=-1

response
  ErrorCode int16
  ApiKeys []ApiVersion
    ApiKey int16
    MinVersion int16
    MaxVersion int16
  ThrottleTimeMs int32 v1+ ignorable
  SupportedFeatures []SupportedFeatureKey v3+ tag=0 ignorable
    Name string v3+
    MinVersion int16 v3+
    MaxVersion int16 v3+
  FinalizedFeaturesEpoch int64 v3+ tag=1 default=-1
  FinalizedFeatures []FinalizedFeatureKey v3+ tag=2 ignorable
    Name string v3+
    MaxVersionLevel int16 v3+
    MinVersionLevel int16 v3+
  ZkMigrationReady bool v3+ tag=3 default=false ignorable
