"""The jobs: one module per job, the registry (registry.py) and what they share (base.py, settling.py)."""
