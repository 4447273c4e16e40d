# Envelope: a broker forwards a client's request to the active controller, with the
# client's principal and address (KIP-590).
api Envelope key=58 versions=0 flexible=0+

request
  RequestData bytes
  RequestPrincipal bytes nullable
  ClientHostAddress bytes

response
  ResponseData bytes nullable default=null
  ErrorCode int16
