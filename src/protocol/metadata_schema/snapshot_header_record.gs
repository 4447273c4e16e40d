# SnapshotHeaderRecord: control record (type 3) that starts a snapshot. Its value has no
# version prefix; Kafka 4.3.1 writes and reads version 0.
record SnapshotHeaderRecord control=3 versions=0 flexible=0+
  Version int16
  LastContainedLogTimestamp int64
