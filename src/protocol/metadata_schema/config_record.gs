# ConfigRecord: sets (or, with a null value, removes) one config of a resource.
record ConfigRecord type=4 versions=0 flexible=0+
  ResourceType int8
  ResourceName string
  Name string
  Value string nullable default=""
