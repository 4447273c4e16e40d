# AlterConfigs (replaces a resource's whole config set). v2 is flexible.
api AlterConfigs key=33 versions=0-2 flexible=2+

request
  Resources []AlterConfigsResource
    ResourceType int8
    ResourceName string
    Configs []AlterableConfig
      Name string
      Value string nullable
  ValidateOnly bool

response
  ThrottleTimeMs int32
  Responses []AlterConfigsResourceResponse
    ErrorCode int16
    ErrorMessage string nullable
    ResourceType int8
    ResourceName string
