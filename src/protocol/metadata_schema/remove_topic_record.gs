# RemoveTopicRecord: deletes a topic and its partitions.
record RemoveTopicRecord type=9 versions=0 flexible=0+
  TopicId uuid
