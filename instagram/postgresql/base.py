"""Django's PostgreSQL backend, checking a kept connection without a round trip.

With CONN_HEALTH_CHECKS, Django checks a kept connection before a request's
first statement on it by sending `SELECT 1`: one more round trip through
pgbouncer on every request and database. A connection that went bad while
idle between requests shows on its socket instead: pgbouncer or PostgreSQL
closed it (a restart, an idle timeout, a terminated backend), which makes
the socket readable (the end of the stream, or the server's FATAL message
first), or psycopg already saw it fail. Nothing else arrives unasked on an
idle connection: the app LISTENs to nothing. So a readable socket, a
closed connection or one in a failed transaction is unusable, and Django opens a new one
before the request's statement runs.

What the socket cannot show (a server gone without a word: a cut network)
is found by the statement itself, as it would be by `SELECT 1` a moment
later: the request fails, and a read on the standby is retried
(sharding.routing).
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        status = connection.info.transaction_status
        if status not in (pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS):
            return False  # a failed transaction, a statement under way or a lost connection
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
