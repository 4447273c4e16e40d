# ClientQuotaRecord: sets or removes one client quota for an entity.
record ClientQuotaRecord type=14 versions=0 flexible=0+
  Entity []EntityData
    EntityType string
    EntityName string nullable default=""
  Key string
  Value float64
  Remove bool
