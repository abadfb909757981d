"""The sync worker: the outbox relay (database -> Redis Streams) and the site agent (Redis -> files)."""
