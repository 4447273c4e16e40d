# FetchSnapshot (KRaft): a follower reads a metadata snapshot in chunks (KIP-630).
# v1 adds the replica directory id and leader endpoints (KIP-853).
api FetchSnapshot key=59 versions=0-1 flexible=0+

request
  ClusterId string nullable tag=0 default=null
  ReplicaId int32 default=-1
  MaxBytes int32 default=0x7fffffff
  Topics []TopicSnapshot
    Name string
    Partitions []PartitionSnapshot
      Partition int32
      CurrentLeaderEpoch int32
      SnapshotId SnapshotId
        EndOffset int64
        Epoch int32
      Position int64
      ReplicaDirectoryId uuid v1+ tag=0 ignorable

response
  ThrottleTimeMs int32 ignorable
  ErrorCode int16
  Topics []TopicSnapshot
    Name string
    Partitions []PartitionSnapshot
      Index int32
      ErrorCode int16
      SnapshotId SnapshotId
        EndOffset int64
        Epoch int32
      CurrentLeader LeaderIdAndEpoch tag=0
        LeaderId int32
        LeaderEpoch int32
      Size int64
      Position int64
      UnalignedRecords records
  NodeEndpoints []NodeEndpoint v1+ tag=0
    NodeId int32 v1+
    Host string v1+
    Port uint16 v1+
