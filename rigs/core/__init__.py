"""Parley's vocabulary: the names every layer shares, with numpy only and no other import of the project.

clip (the clip contract and file), npz (bounded reading of untrusted .npz archives), timebase (frame counts,
frame times, resampling), arkit (52 channels, aliases), skeleton (the canonical skeleton, its one forward
kinematics and end sites), rotations (conversions, axis frames), phones (ARPAbet inventory, classes, the
Phone type), emotions (names and the one blending rule), errors (the one error family), files (atomic
writes, output checks, hashing, data and cache folders), signals (Ctrl-C, SIGTERM and SIGHUP in the
command-line front ends).
See docs/architecture.md.
"""
