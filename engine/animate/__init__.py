"""Animators: phones and prosody -> ARKit face, lip vertices and body joint angles."""
