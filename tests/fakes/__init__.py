"""Stand-ins for the services cronrelay talks to, and scenario drivers that use them.

Shared by tests/ and bench/. Nothing here imports conftest or a test module,
so bench/ can use them without collecting tests.
"""
