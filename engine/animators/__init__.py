"""Audio -> clip: every animator sits here behind one interface (``base``) and one registry.

phonetic (the rule-based face: phones -> mouth, expression, upper face), body (the procedural body), lips
(the ICT linear lip model shared by all animators).
"""
