"""The phonetic animator (no training): timed phones and prosody -> ARKit face, head and eyes.

animator (orchestration), face (the face stage), mouth (coarticulation and lip contacts), expression
(emotion overlays and speaking style), upper_face (brows, blinks, head, eyes).
"""
