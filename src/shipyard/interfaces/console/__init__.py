"""The console: one web page for the whole life of every model, under ``/ui``.

Server-rendered pages (Jinja2, autoescaped) over the same services as the API, with the same tokens
and roles (``http.sessions``, ``http.permissions``), light interactivity from htmx and charts from
uPlot, both vendored in ``static/vendor`` (no request leaves the server). Pages read stored metric
points, alerts, rollout records and the audit log; never the prediction log.
"""
