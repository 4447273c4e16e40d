# SaslHandshake: pick a SASL mechanism. v1 means tokens then travel in SaslAuthenticate.
api SaslHandshake key=17 versions=0-1 flexible=none

request
  Mechanism string

response
  ErrorCode int16
  Mechanisms []string
