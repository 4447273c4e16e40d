# DescribeConfigs. Kafka 4 removed v0. v1 adds synonyms and config sources; v3 config types and
# documentation; v4 is flexible.
api DescribeConfigs key=32 versions=1-4 flexible=4+

request
  Resources []DescribeConfigsResource
    ResourceType int8
    ResourceName string
    ConfigurationKeys []string nullable
  IncludeSynonyms bool v1+ default=false ignorable
  IncludeDocumentation bool v3+ default=false ignorable

response
  ThrottleTimeMs int32
  Results []DescribeConfigsResult
    ErrorCode int16
    ErrorMessage string nullable
    ResourceType int8
    ResourceName string
    Configs []DescribeConfigsResourceResult
      Name string
      Value string nullable
      ReadOnly bool
      ConfigSource int8 v1+ default=-1 ignorable
      IsSensitive bool
      Synonyms []DescribeConfigsSynonym v1+ ignorable
        Name string v1+
        Value string v1+ nullable
        Source int8 v1+
      ConfigType int8 v3+ default=0 ignorable
      Documentation string v3+ nullable ignorable
