# KRaftVersionRecord: control record (type 5) with the kraft.version in force. Its value
# has no version prefix; Kafka 4.3.1 writes and reads version 0.
record KRaftVersionRecord control=5 versions=0 flexible=0+
  Version int16
  KRaftVersion int16
