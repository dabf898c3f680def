"""The live page: served by the service process, updated by server-sent events."""
