# CreatePartitions: raise a topic's partition count. v2 is flexible; v3 is the same as v2.
api CreatePartitions key=37 versions=0-3 flexible=2+

request
  Topics []CreatePartitionsTopic
    Name string
    Count int32
    Assignments []CreatePartitionsAssignment nullable
      BrokerIds []int32
  TimeoutMs int32
  ValidateOnly bool

response
  ThrottleTimeMs int32
  Results []CreatePartitionsTopicResult
    Name string
    ErrorCode int16
    ErrorMessage string nullable default=null
