# AbortTransactionRecord: marks that a metadata transaction (KIP-868) was aborted.
record AbortTransactionRecord type=25 versions=0 flexible=0+
  Reason string nullable tag=0 default=null
