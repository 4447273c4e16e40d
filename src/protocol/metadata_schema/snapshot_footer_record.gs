# SnapshotFooterRecord: control record (type 4) that ends a snapshot. Its value has no
# version prefix; Kafka 4.3.1 writes and reads version 0.
record SnapshotFooterRecord control=4 versions=0 flexible=0+
  Version int16
