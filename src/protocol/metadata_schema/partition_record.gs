# PartitionRecord: creates one partition (or replaces its whole state in a snapshot).
# v1 adds Directories, v2 the eligible leader replicas (KIP-966).
record PartitionRecord type=3 versions=0-2 flexible=0+
  PartitionId int32 default=-1
  TopicId uuid
  Replicas []int32
  Isr []int32
  RemovingReplicas []int32
  AddingReplicas []int32
  Leader int32 default=-1
  LeaderRecoveryState int8 tag=0 default=0
  LeaderEpoch int32 default=-1
  PartitionEpoch int32 default=-1
  Directories []uuid v1+
  EligibleLeaderReplicas []int32 v2+ nullable tag=1 default=null
  LastKnownElr []int32 v2+ nullable tag=2 default=null
