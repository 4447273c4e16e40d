# DeleteTopics. Kafka 4 removed v0. v4 is flexible; v5 adds error messages; v6 deletes by name or
# topic id.
api DeleteTopics key=20 versions=1-6 flexible=4+

request
  Topics []DeleteTopicState v6+
    Name string v6+ nullable=6+ default=null
    TopicId uuid v6+
  TopicNames []string v0-5 ignorable
  TimeoutMs int32

response
  ThrottleTimeMs int32 v1+ ignorable
  Responses []DeletableTopicResult
    Name string nullable=6+
    TopicId uuid v6+ ignorable
    ErrorCode int16
    ErrorMessage string v5+ nullable=5+ default=null ignorable
