# TxnOffsetCommit: offsets committed as part of a transaction; they become visible when the
# transaction commits. v3 adds the group generation and member (KIP-447) and is flexible.
api TxnOffsetCommit key=28 versions=0-5 flexible=3+

request
  TransactionalId string
  GroupId string
  ProducerId int64
  ProducerEpoch int16
  GenerationId int32 v3+ default=-1
  MemberId string v3+ default=""
  GroupInstanceId string v3+ nullable default=null
  Topics []TxnOffsetCommitRequestTopic
    Name string
    Partitions []TxnOffsetCommitRequestPartition
      PartitionIndex int32
      CommittedOffset int64
      CommittedLeaderEpoch int32 v2+ default=-1 ignorable
      CommittedMetadata string nullable

response
  ThrottleTimeMs int32
  Topics []TxnOffsetCommitResponseTopic
    Name string
    Partitions []TxnOffsetCommitResponsePartition
      PartitionIndex int32
      ErrorCode int16
