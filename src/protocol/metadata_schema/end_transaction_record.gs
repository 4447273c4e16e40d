# EndTransactionRecord: commits a metadata transaction (KIP-868).
record EndTransactionRecord type=24 versions=0 flexible=0+
