# FeatureLevelRecord: sets a finalized feature level (metadata.version, kraft.version, ...).
record FeatureLevelRecord type=12 versions=0 flexible=0+
  Name string
  FeatureLevel int16
