# VotersRecord: control record (type 6) with the voter set (KIP-853). Its value has no
# version prefix; Kafka 4.3.1 writes and reads version 0.
record VotersRecord control=6 versions=0 flexible=0+
  Version int16
  Voters []Voter
    VoterId int32
    VoterDirectoryId uuid
    Endpoints []Endpoint
      Name string
      Host string
      Port uint16
    KRaftVersionFeature KRaftVersionFeature
      MinSupportedVersion int16
      MaxSupportedVersion int16
