"""`python -m lib ...`: the operator's command line. Never deployed: see .vercelignore."""
