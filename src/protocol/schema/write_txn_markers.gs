# WriteTxnMarkers: the transaction coordinator asks partition leaders to write COMMIT/ABORT control
# batches. Kafka 4 serves v1+ (v1 is flexible); v2 carries the transaction version.
api WriteTxnMarkers key=27 versions=1-2 flexible=1+

request
  Markers []WritableTxnMarker
    ProducerId int64
    ProducerEpoch int16
    TransactionResult bool
    Topics []WritableTxnMarkerTopic
      Name string
      PartitionIndexes []int32
    CoordinatorEpoch int32
    TransactionVersion int8 v2+ default=0 ignorable

response
  Markers []WritableTxnMarkerResult
    ProducerId int64
    Topics []WritableTxnMarkerTopicResult
      Name string
      Partitions []WritableTxnMarkerPartitionResult
        PartitionIndex int32
        ErrorCode int16
