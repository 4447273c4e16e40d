# UpdateFeatures: changes finalized feature levels (kafka-features.sh upgrade / downgrade). v1
# replaces AllowDowngrade with UpgradeType (1 upgrade, 2 safe downgrade, 3 unsafe downgrade) and
# adds ValidateOnly; v2 answers with the top-level error only.
api UpdateFeatures key=57 versions=0-2 flexible=0+

request
  TimeoutMs int32 default=60000
  FeatureUpdates []FeatureUpdateKey
    Feature string
    MaxVersionLevel int16
    AllowDowngrade bool v0-0
    UpgradeType int8 v1+ default=1
  ValidateOnly bool v1+ default=false

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable default=null
  Results []UpdatableFeatureResult v0-1 ignorable
    Feature string
    ErrorCode int16
    ErrorMessage string nullable default=null
