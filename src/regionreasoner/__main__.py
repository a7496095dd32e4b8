"""``python -m regionreasoner``."""

from __future__ import annotations

from regionreasoner.cli.main import main

raise SystemExit(main())
