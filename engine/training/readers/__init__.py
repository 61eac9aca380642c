"""Real-capture readers: each format users train on, read into one type (:class:`CapturedTake`) and cut into
corpus windows (:func:`to_windows`).

=============  ==========================================  ==============================================
module         format                                      labels
=============  ==========================================  ==============================================
``livelink``   Live Link Face CSV (60 rows/s) + take audio  52 ARKit weights, head and eye rotations
``facegood``   FACEGOOD wav + blendshape matrix + mapping   27 ARKit mouth/jaw weights (others invalid)
``beat``       BEAT2 SMPL-X npz + wav                       body joint angles, root translation
``bvh``        BVH + retarget map (+ wav)                   body joint angles, root translation
=============  ==========================================  ==============================================

Bad input (unreadable files, NaN, unknown channel names, audio and labels more than two frames apart,
joints no retarget map covers) raises a typed :class:`~rigs.core.errors.ParleyError` naming the file; the
folder readers skip such takes with a warning and list them in their :class:`ReadReport`.
"""
from .beat import read_beat2, read_beat2_folder
from .bvh import read_bvh_folder, read_bvh_take
from .facegood import facegood_expression, read_facegood, read_facegood_folder
from .livelink import read_livelink, read_takes
from .take import MAX_DRIFT_FRAMES, CapturedTake, ReadReport, check_alignment
from .windows import to_windows

__all__ = ["CapturedTake", "ReadReport", "MAX_DRIFT_FRAMES", "check_alignment", "read_livelink", "read_takes",
           "read_facegood", "read_facegood_folder", "facegood_expression", "read_beat2", "read_beat2_folder",
           "read_bvh_take", "read_bvh_folder", "to_windows"]
