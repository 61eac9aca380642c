"""Real-capture readers."""
