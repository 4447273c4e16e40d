# DescribeClientQuotas: quota entities matching a filter (kafka-configs.sh --describe --entity-type users|clients).
api DescribeClientQuotas key=48 versions=0-1 flexible=1+

request
  Components []ComponentData
    EntityType string
    MatchType int8
    Match string nullable
  Strict bool

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable
  Entries []EntryData nullable
    Entity []EntityData
      EntityType string
      EntityName string nullable
    Values []ValueData
      Key string
      Value float64
