# DescribeUserScramCredentials: which SCRAM mechanisms (and iterations) users have.
api DescribeUserScramCredentials key=50 versions=0-0 flexible=0+

request
  Users []UserName nullable
    Name string

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable
  Results []DescribeUserScramCredentialsResult
    User string
    ErrorCode int16
    ErrorMessage string nullable
    CredentialInfos []CredentialInfo
      Mechanism int8
      Iterations int32
