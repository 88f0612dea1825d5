"""Deployment entry: `app` for Vercel's Python runtime, `handler` for AWS Lambda."""

from __future__ import annotations

import sys
from pathlib import Path

# Vercel runs this file from api/; the package lives beside it in lib/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mangum import Mangum

from lib.app import create_app

app = create_app()
handler = Mangum(app, lifespan="off")
