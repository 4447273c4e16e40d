# ZkMigrationRecord: ZooKeeper migration state; Kafka 4 only reads it from old logs.
record ZkMigrationRecord type=21 versions=0 flexible=0+
  ZkMigrationState int8
