# AlterUserScramCredentials: set or delete users' SCRAM credentials (kafka-configs.sh --entity-type users).
api AlterUserScramCredentials key=51 versions=0-0 flexible=0+

request
  Deletions []ScramCredentialDeletion
    Name string
    Mechanism int8
  Upsertions []ScramCredentialUpsertion
    Name string
    Mechanism int8
    Iterations int32
    Salt bytes
    SaltedPassword bytes

response
  ThrottleTimeMs int32
  Results []AlterUserScramCredentialsResult
    User string
    ErrorCode int16
    ErrorMessage string nullable
