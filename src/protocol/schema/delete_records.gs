# DeleteRecords: advance log start offsets. v2 is flexible.
api DeleteRecords key=21 versions=0-2 flexible=2+

request
  Topics []DeleteRecordsTopic
    Name string
    Partitions []DeleteRecordsPartition
      PartitionIndex int32
      Offset int64
  TimeoutMs int32

response
  ThrottleTimeMs int32
  Topics []DeleteRecordsTopicResult
    Name string
    Partitions []DeleteRecordsPartitionResult
      PartitionIndex int32
      LowWatermark int64
      ErrorCode int16
