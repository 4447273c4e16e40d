# SaslAuthenticate: one SASL token exchange. v1 adds SessionLifetimeMs; v2 is flexible.
api SaslAuthenticate key=36 versions=0-2 flexible=2+

request
  AuthBytes bytes

response
  ErrorCode int16
  ErrorMessage string nullable
  AuthBytes bytes
  SessionLifetimeMs int64 v1+ default=0 ignorable
