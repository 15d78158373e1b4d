"""The HTTP API: publish events, read customers, timelines and campaigns.

``create_app`` (app.py) builds the ASGI app from a backbone; ``touchline
api`` serves it (serve.py). One module per concern: ingest, reads, health,
metrics, problems (errors as RFC 9457), the overload gate, the OpenAPI
document.
"""
