# Metadata: brokers, topics, partitions and leaders. v1 makes a null topic list mean "all";
# v4 adds AllowAutoTopicCreation; v9 is flexible; v10 adds topic ids; v11 drops the cluster
# authorized operations; v12 makes topic names nullable; v13 adds a top-level error code.
api Metadata key=3 versions=0-13 flexible=9+

request
  Topics []MetadataRequestTopic nullable=1+
    TopicId uuid v10+
    Name string nullable=10+
  AllowAutoTopicCreation bool v4+ default=true
  IncludeClusterAuthorizedOperations bool v8-10
  IncludeTopicAuthorizedOperations bool v8+

response
  ThrottleTimeMs int32 v3+ ignorable
  Brokers []MetadataResponseBroker
    NodeId int32
    Host string
    Port int32
    Rack string v1+ nullable=1+ default=null ignorable
  ClusterId string v2+ nullable=2+ default=null ignorable
  ControllerId int32 v1+ default=-1 ignorable
  Topics []MetadataResponseTopic
    ErrorCode int16
    Name string nullable=12+
    TopicId uuid v10+ ignorable
    IsInternal bool v1+ default=false ignorable
    Partitions []MetadataResponsePartition
      ErrorCode int16
      PartitionIndex int32
      LeaderId int32
      LeaderEpoch int32 v7+ default=-1 ignorable
      ReplicaNodes []int32
      IsrNodes []int32
      OfflineReplicas []int32 v5+ ignorable
    TopicAuthorizedOperations int32 v8+ default=-2147483648
  ClusterAuthorizedOperations int32 v8-10 default=-2147483648
  ErrorCode int16 v13+ ignorable
