# RemoveDelegationTokenRecord: removes a delegation token.
record RemoveDelegationTokenRecord type=26 versions=0 flexible=0+
  TokenId string
