"""``python -m engine`` runs the Parley CLI."""
from engine.cli import main

raise SystemExit(main())
