# IncrementalAlterConfigs: set/delete/append/subtract individual configs. v1 is flexible.
api IncrementalAlterConfigs key=44 versions=0-1 flexible=1+

request
  Resources []AlterConfigsResource
    ResourceType int8
    ResourceName string
    Configs []AlterableConfig
      Name string
      ConfigOperation int8
      Value string nullable
  ValidateOnly bool

response
  ThrottleTimeMs int32
  Responses []AlterConfigsResourceResponse
    ErrorCode int16
    ErrorMessage string nullable
    ResourceType int8
    ResourceName string
