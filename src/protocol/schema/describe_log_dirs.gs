# DescribeLogDirs: log directories and partition sizes. Kafka 4 removed v0. v2 is
# flexible; v3 adds a top-level error code, v4 TotalBytes/UsableBytes, v5 IsCordoned.
api DescribeLogDirs key=35 versions=1-5 flexible=2+

request
  Topics []DescribableLogDirTopic nullable
    Topic string
    Partitions []int32

response
  ThrottleTimeMs int32
  ErrorCode int16 v3+ ignorable
  Results []DescribeLogDirsResult
    ErrorCode int16
    LogDir string
    Topics []DescribeLogDirsTopic
      Name string
      Partitions []DescribeLogDirsPartition
        PartitionIndex int32
        PartitionSize int64
        OffsetLag int64
        IsFutureKey bool
    TotalBytes int64 v4+ default=-1 ignorable
    UsableBytes int64 v4+ default=-1 ignorable
    IsCordoned bool v5+ default=false ignorable
