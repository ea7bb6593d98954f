"""The foundation every layer stands on: named errors, durations and sizes, and the typed
config fields every section shares."""
