# AlterPartition: a partition leader asks the controller to change the ISR. Kafka 4
# accepts v2-3 only (v0-1 named topics). v3 sends NewIsrWithEpochs instead of NewIsr (KIP-903).
api AlterPartition key=56 versions=2-3 flexible=0+

request
  BrokerId int32
  BrokerEpoch int64 default=-1
  Topics []TopicData
    TopicId uuid v2+ ignorable
    Partitions []PartitionData
      PartitionIndex int32
      LeaderEpoch int32
      NewIsr []int32 v0-2
      NewIsrWithEpochs []BrokerState v3+
        BrokerId int32 v3+
        BrokerEpoch int64 v3+ default=-1
      LeaderRecoveryState int8 v1+ default=0
      PartitionEpoch int32

response
  ThrottleTimeMs int32
  ErrorCode int16
  Topics []TopicData
    TopicId uuid v2+ ignorable
    Partitions []PartitionData
      PartitionIndex int32
      ErrorCode int16
      LeaderId int32
      LeaderEpoch int32
      Isr []int32
      LeaderRecoveryState int8 v1+ default=0 ignorable
      PartitionEpoch int32
