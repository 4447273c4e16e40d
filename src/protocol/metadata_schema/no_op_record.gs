# NoOpRecord: written by the active controller to advance the log when idle.
record NoOpRecord type=20 versions=0 flexible=0+
