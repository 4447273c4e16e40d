# AlterClientQuotas: set or remove client quotas (kafka-configs.sh --alter --entity-type users|clients|ips).
api AlterClientQuotas key=49 versions=0-1 flexible=1+

request
  Entries []EntryData
    Entity []EntityData
      EntityType string
      EntityName string nullable
    Ops []OpData
      Key string
      Value float64
      Remove bool
  ValidateOnly bool

response
  ThrottleTimeMs int32
  Entries []EntryData
    ErrorCode int16
    ErrorMessage string nullable
    Entity []EntityData
      EntityType string
      EntityName string nullable
