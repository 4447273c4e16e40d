# ConsumerGroupDescribe (KIP-848 groups). v1 adds MemberType.
api ConsumerGroupDescribe key=69 versions=0-1 flexible=0+

request
  GroupIds []string
  IncludeAuthorizedOperations bool

response
  ThrottleTimeMs int32
  Groups []DescribedGroup
    ErrorCode int16
    ErrorMessage string nullable default=null
    GroupId string
    GroupState string
    GroupEpoch int32
    AssignmentEpoch int32
    AssignorName string
    Members []Member
      MemberId string
      InstanceId string nullable default=null
      RackId string nullable default=null
      MemberEpoch int32
      ClientId string
      ClientHost string
      SubscribedTopicNames []string
      SubscribedTopicRegex string nullable default=null
      Assignment Assignment
      TargetAssignment Assignment
      MemberType int8 v1+ default=-1
    AuthorizedOperations int32 default=-2147483648

struct Assignment
  TopicPartitions []TopicPartitions

struct TopicPartitions
  TopicId uuid
  TopicName string
  Partitions []int32
