"""Local stand-ins for the external services this machine cannot reach.

APNS (HTTP/2 over TLS, checking the JWT provider token), the Twitter API,
the Facebook Graph API, Sentry's ingest API and PagerDuty's Events API v2
(monitoring.py), and an SMTP relay (smtp.py), each recording every request it receives as one JSON
line under the sandbox folder (var/<profile>/sandbox/<service>.jsonl), which
is how the tests, and a developer running `make run`, see what the workers
sent. They run under supervisord as the `sandbox` program; production points
the settings (APNS_HOST, TWITTER_API_URL, FACEBOOK_API_URL, SENTRY_DSN,
PAGERDUTY_EVENTS_URL, EMAIL_HOST) at the real ones.
"""
