"""Alert notifiers: plugins through the ``shipyard_notifiers`` hook (built-ins: log, webhook)."""
