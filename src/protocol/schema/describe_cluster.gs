# DescribeCluster: brokers and controller for admin clients. v1 adds EndpointType; v2 adds
# fenced brokers.
api DescribeCluster key=60 versions=0-2 flexible=0+

request
  IncludeClusterAuthorizedOperations bool
  EndpointType int8 v1+ default=1
  IncludeFencedBrokers bool v2+ default=false

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable default=null
  EndpointType int8 v1+ default=1
  ClusterId string
  ControllerId int32 default=-1
  Brokers []DescribeClusterBroker
    BrokerId int32
    Host string
    Port int32
    Rack string nullable default=null
    IsFenced bool v2+ default=false
  ClusterAuthorizedOperations int32 default=-2147483648
