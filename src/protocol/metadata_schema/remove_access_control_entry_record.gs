# RemoveAccessControlEntryRecord: removes one ACL by id.
record RemoveAccessControlEntryRecord type=19 versions=0 flexible=0+
  Id uuid
