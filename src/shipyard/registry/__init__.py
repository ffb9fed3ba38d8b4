"""The registry: models, versions, aliases, tags and the audit log, over a store and a blob store."""
