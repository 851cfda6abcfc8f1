"""smartpapers dashboards and alerts as code.

``python -m dashboards.generate`` renders the Grafana dashboard (grafana-foundation-sdk) and the
Prometheus rules file into the Helm chart's ``files/`` directory; both are committed.
"""
