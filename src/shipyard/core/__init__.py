"""Core: the error tree, settings and small shared types. Imports nothing else from shipyard."""
