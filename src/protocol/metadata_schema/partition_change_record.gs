# PartitionChangeRecord: a change to one partition; tagged fields left at their defaults
# (null lists, Leader -2, LeaderRecoveryState -1) mean unchanged. v1 adds Directories,
# v2 the eligible leader replicas (KIP-966).
record PartitionChangeRecord type=5 versions=0-2 flexible=0+
  PartitionId int32 default=-1
  TopicId uuid
  Isr []int32 nullable tag=0 default=null
  Leader int32 tag=1 default=-2
  Replicas []int32 nullable tag=2 default=null
  RemovingReplicas []int32 nullable tag=3 default=null
  AddingReplicas []int32 nullable tag=4 default=null
  LeaderRecoveryState int8 tag=5 default=-1
  Directories []uuid v1+ nullable tag=8 default=null
  EligibleLeaderReplicas []int32 v2+ nullable tag=6 default=null
  LastKnownElr []int32 v2+ nullable tag=7 default=null
