"""The console's sso section (being built)."""

from __future__ import annotations

from teamgate.web.ui.gate import console_router

router = console_router()
