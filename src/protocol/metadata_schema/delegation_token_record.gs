# DelegationTokenRecord: creates or renews a delegation token.
record DelegationTokenRecord type=10 versions=0 flexible=0+
  Owner string
  Requester string
  Renewers []string
  IssueTimestamp int64
  MaxTimestamp int64
  ExpirationTimestamp int64
  TokenId string
