"""The operator console: a web page under /api/ops and the access rules of its JSON API."""

from __future__ import annotations

from lib.ops.routes import OpsRoute, router
from lib.ops.session import OpsAccess, OpsError, OpsReader, OpsWriter, require_ops_access

__all__ = ["OpsAccess", "OpsError", "OpsReader", "OpsRoute", "OpsWriter", "require_ops_access", "router"]
