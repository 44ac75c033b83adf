"""Observability (issue 13, item 5): Prometheus metrics (`metrics.py`, served by `endpoint.py` in each daphne
worker and by `manage.py run_relay --metrics-port`) and one-JSON-object-per-line logs (`logs.py`)."""
