"""Use cases: one transaction each, combining domain rules with the storage adapter."""
