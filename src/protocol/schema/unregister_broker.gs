# UnregisterBroker: removes a broker's registration (admin tool, KIP-500).
api UnregisterBroker key=64 versions=0 flexible=0+

request
  BrokerId int32

response
  ThrottleTimeMs int32
  ErrorCode int16
  ErrorMessage string nullable
