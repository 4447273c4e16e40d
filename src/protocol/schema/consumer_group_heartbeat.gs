# ConsumerGroupHeartbeat (KIP-848 consumer group protocol). v1 adds SubscribedTopicRegex.
api ConsumerGroupHeartbeat key=68 versions=0-1 flexible=0+

request
  GroupId string
  MemberId string
  MemberEpoch int32
  InstanceId string nullable default=null
  RackId string nullable default=null
  RebalanceTimeoutMs int32 default=-1
  SubscribedTopicNames []string nullable default=null
  SubscribedTopicRegex string v1+ nullable default=null
  ServerAssignor string nullable default=null
  TopicPartitions []TopicPartitions nullable default=null
    TopicId uuid
    Partitions []int32

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable default=null
  MemberId string nullable default=null
  MemberEpoch int32
  HeartbeatIntervalMs int32
  Assignment Assignment nullable default=null
    TopicPartitions []TopicPartitions
      TopicId uuid
      Partitions []int32
