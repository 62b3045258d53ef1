"""Sessions: the record of one requested call, its states, outcome and log, and their store."""
