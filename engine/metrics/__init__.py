"""Evaluation metrics shared by tests, benchmarks and training: numpy arrays in, numbers out.

One module per subject (the face's lip and expression metrics, the body's distribution metrics); numpy and
scipy only, so benchmarks and tests use them without torch.
"""
