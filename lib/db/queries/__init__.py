"""The typed query layer: one typed async function per SQL function the service calls.

One module per concern, matching migrations/: runs, agents, heartbeats,
reminders, run_requests, schedules, health. Each function takes the Database
port and keyword arguments, makes the one `call`, and returns frozen
dataclasses or pydantic models parsed here, at the edge. Nothing outside
lib/db/ calls the port directly; tests/test_queries.py checks that the set of
wrapped functions matches migrations/.

Rows other apps write can hold values Postgres accepts and Python cannot
(`-infinity`, BC dates, a payload that is not an object). Sweeps must fail
such a row alone, so claims parse those columns defensively: an unusable
value becomes an `Unreadable` (or a per-row problem), never an exception
that would take the whole batch down.
"""
