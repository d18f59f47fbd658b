"""Monitoring and alerting: counters, /metrics, Sentry, and PagerDuty-style alerts.

- stats.py: cheap monotonic counters in Redis (sign-ups, photos, likes) and
  the fan-out bookkeeping behind the fan-out lag figures;
- collector.py: every app-level figure, for /metrics (views.py) and through
  it the Munin plugins (deploy/munin/);
- middleware.py: the request latency histogram;
- sentry.py: error reporting without personal data;
- alerts.py: health and fan-out lag checks that page through the Events API v2
  (`manage.py alert_check`, `manage.py alert_watch`).

docs/monitoring.md describes each figure and when it alerts.
"""
