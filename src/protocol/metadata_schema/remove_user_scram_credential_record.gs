# RemoveUserScramCredentialRecord: removes a user's SCRAM credential.
record RemoveUserScramCredentialRecord type=22 versions=0 flexible=0+
  Name string
  Mechanism int8
