# UserScramCredentialRecord: sets a user's SCRAM credential.
record UserScramCredentialRecord type=11 versions=0 flexible=0+
  Name string
  Mechanism int8
  Salt bytes
  StoredKey bytes
  ServerKey bytes
  Iterations int32
