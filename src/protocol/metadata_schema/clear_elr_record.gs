# ClearElrRecord: clears the eligible leader replicas of one topic or all topics.
record ClearElrRecord type=28 versions=0 flexible=0+
  TopicName string
