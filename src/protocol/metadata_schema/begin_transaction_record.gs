# BeginTransactionRecord: starts a metadata transaction (KIP-868), records up to
# the matching end or abort apply atomically.
record BeginTransactionRecord type=23 versions=0 flexible=0+
  Name string nullable tag=0 default=null
