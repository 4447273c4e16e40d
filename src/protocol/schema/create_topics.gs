# CreateTopics. Kafka 4 removed v0-1. v5 is flexible and returns the created topic's configs;
# v7 returns topic ids.
api CreateTopics key=19 versions=2-7 flexible=5+

request
  Topics []CreatableTopic
    Name string
    NumPartitions int32
    ReplicationFactor int16
    Assignments []CreatableReplicaAssignment
      PartitionIndex int32
      BrokerIds []int32
    Configs []CreatableTopicConfig
      Name string
      Value string nullable
  TimeoutMs int32 default=60000
  ValidateOnly bool v1+ default=false ignorable

response
  ThrottleTimeMs int32 v2+ ignorable
  Topics []CreatableTopicResult
    Name string
    TopicId uuid v7+ ignorable
    ErrorCode int16
    ErrorMessage string v1+ nullable=0+ default=null ignorable
    TopicConfigErrorCode int16 v5+ tag=0 ignorable
    NumPartitions int32 v5+ default=-1 ignorable
    ReplicationFactor int16 v5+ default=-1 ignorable
    Configs []CreatableTopicConfigs v5+ nullable=5+ ignorable
      Name string v5+
      Value string v5+ nullable=5+
      ReadOnly bool v5+
      ConfigSource int8 v5+ default=-1 ignorable
      IsSensitive bool v5+
