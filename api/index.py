"""Deployment entry: `app` for Vercel's Python runtime, `handler` for AWS Lambda."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Vercel runs this file from api/; the package lives beside it in lib/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.app import create_app

app = create_app()


def __getattr__(name: str) -> Any:
    """`handler` (Mangum, for AWS Lambda) is built when Lambda first asks for it,
    so a Vercel cold start never imports Mangum."""
    if name == "handler":
        from mangum import Mangum

        handler = Mangum(app, lifespan="off")
        globals()["handler"] = handler
        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
