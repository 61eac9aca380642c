"""The procedural body: prosody, accents and head motion -> canonical joint angles and root motion."""
