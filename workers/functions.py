"""Every Gearman function name the system submits or serves, in one screen.

A name carries the payload version it was introduced with; a change to a
payload that old workers cannot read gets a new name, so a rolling deploy
never feeds a new payload to an old worker.
"""

PING = "instagram.ping.v1"
