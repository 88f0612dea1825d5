"""Workers: machines outside the cloud that run their own jobs (DESIGN.md, Workers).

- `tokens`: making a worker's `crw_...` token and the hash the database keeps;
- `manage`: add, list and revoke workers (the CLI's `workers`, the console's API);
- `api`: the HTTP API under /api/worker/ (sync, claim, extend, settle);
- `config` and `agent`: the reference worker, `python -m lib worker`.
"""
