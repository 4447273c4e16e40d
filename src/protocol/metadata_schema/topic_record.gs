# TopicRecord: creates a topic (name and id).
record TopicRecord type=2 versions=0 flexible=0+
  Name string
  TopicId uuid
