# ListOffsets: offsets by timestamp (-1 latest, -2 earliest, -3 max timestamp, ...). Kafka 4
# removed v0. v2 adds IsolationLevel; v4 leader epochs; v6 is flexible; v10 adds TimeoutMs; v11 has no schema
# change (a new special timestamp).
api ListOffsets key=2 versions=1-11 flexible=6+

request
  ReplicaId int32
  IsolationLevel int8 v2+
  Topics []ListOffsetsTopic
    Name string
    Partitions []ListOffsetsPartition
      PartitionIndex int32
      CurrentLeaderEpoch int32 v4+ default=-1
      Timestamp int64
  TimeoutMs int32 v10+ ignorable

response
  ThrottleTimeMs int32 v2+ ignorable
  Topics []ListOffsetsTopicResponse
    Name string
    Partitions []ListOffsetsPartitionResponse
      PartitionIndex int32
      ErrorCode int16
      Timestamp int64 v1+ default=-1 ignorable
      Offset int64 v1+ default=-1 ignorable
      LeaderEpoch int32 v4+ default=-1
