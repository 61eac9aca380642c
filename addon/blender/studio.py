"""A photo studio for renders: a soft grey cyclorama backdrop and three-point lighting (bpy).

:func:`add_backdrop` lays a cyclorama (a floor that curves up into a wall behind the character, so no
horizon line shows) with a soft radial gradient centred behind the head (a generated image texture: Workbench
shows it in its Texture colour mode, Eevee and Cycles through the material). Lighting is the classic three
points, a key light high at the camera's left, a weaker fill at its right and a rim light behind the
character that draws its outline off the backdrop: for Eevee and Cycles as soft area lights
(:func:`add_lights`); for Workbench, which ignores scene lights, as a studio light of the same directions
built from the preferences' solid lights (:func:`workbench_lighting`).

References: Blender 5.0 Python API (StudioLights.new, PreferencesSystem.solid_lights, View3DShading);
Blender manual, "Workbench > Lighting"; the three-point lighting of portrait photography (key, fill, rim).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BACKDROP_NAME = "parley_backdrop"
# the cyclorama (Blender axes, metres): wall plane behind the character (+Y), radius of the cove joining
# floor and wall, half-width, wall height, floor length in front of the wall
CYC_WALL_Y_M = 1.6
CYC_COVE_M = 1.2
CYC_HALF_WIDTH_M = 6.0
CYC_HEIGHT_M = 5.0
CYC_FLOOR_M = 9.0
# the backdrop's gradient: linear RGB at the halo's centre (behind the character, where the camera looks) and
# far from it; the halo's width as a multiple of the half-height the camera sees on the wall
BACKDROP_CENTRE_RGB = (0.40, 0.40, 0.41)
BACKDROP_EDGE_RGB = (0.06, 0.06, 0.065)
BACKDROP_HALO_WIDTH = 1.25
BACKDROP_TEXTURE_PX = (64, 256)

# Workbench studio light: (direction towards the light in view space: +X right, +Y up, +Z towards the
# camera; diffuse RGB; specular RGB; wrap 0..1). Key high left, fill low right, two rims from behind.
WORKBENCH_LIGHTS = (
    ((-0.62, 0.52, 0.59), (0.78, 0.76, 0.72), (0.22, 0.22, 0.21), 0.30),   # key
    ((0.78, 0.02, 0.62), (0.16, 0.17, 0.19), (0.00, 0.00, 0.00), 0.60),    # fill
    ((0.80, 0.30, -0.52), (0.42, 0.42, 0.44), (0.25, 0.25, 0.25), 0.05),   # rim, right
    ((-0.74, 0.40, -0.54), (0.26, 0.26, 0.28), (0.15, 0.15, 0.15), 0.05),  # rim, left
)
WORKBENCH_AMBIENT_RGB = (0.035, 0.035, 0.04)
WORKBENCH_STUDIO_LIGHT = "parley_studio.sl"

# Eevee/Cycles area lights: (name, offset from the target at 1.5 m camera distance (Blender axes, m), power W,
# size m, colour). The rim stays in front of the backdrop's wall.
AREA_LIGHTS = (
    ("key", (-1.2, -1.6, 1.0), 55.0, 1.4, (1.0, 0.96, 0.9)),
    ("fill", (1.6, -1.5, 0.1), 14.0, 2.0, (0.9, 0.95, 1.0)),
    ("rim", (0.9, 0.9, 0.9), 45.0, 0.8, (1.0, 1.0, 1.0)),
    ("rim_left", (-0.9, 0.9, 0.7), 25.0, 0.8, (1.0, 1.0, 1.0)),
)
WORLD_RGB = (0.02, 0.02, 0.022)


def cyclorama_profile(n: int = 48) -> np.ndarray:
    """(n, 3) points (y, z, arc length) along the backdrop's profile from the front of the floor, through the
    cove, to the top of the wall (Blender axes, metres)."""
    r, wall = CYC_COVE_M, CYC_WALL_Y_M
    floor = np.array([[wall - r - CYC_FLOOR_M, 0.0], [wall - r, 0.0]])
    a = np.linspace(0.0, np.pi / 2, max(8, n - 4))
    cove = np.stack([wall - r + r * np.sin(a), r - r * np.cos(a)], axis=1)
    top = np.array([[wall, CYC_HEIGHT_M]])
    pts = np.concatenate([floor[:1], cove, top])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    return np.concatenate([pts, s[:, None]], axis=1)


def backdrop_shade(points_m: np.ndarray, centre_m, width_m: float) -> np.ndarray:
    """(P, 3) linear RGB of the backdrop at ``points_m`` (P, 3): a soft halo of ``width_m`` around ``centre_m``."""
    d = np.linalg.norm(np.asarray(points_m) - np.asarray(centre_m), axis=-1)
    t = np.exp(-(d / width_m) ** 2)[:, None]
    return np.asarray(BACKDROP_EDGE_RGB) + t * (np.asarray(BACKDROP_CENTRE_RGB) - np.asarray(BACKDROP_EDGE_RGB))


def _gradient_image(bpy, profile: np.ndarray, centre_m, width_m: float):
    w, h = BACKDROP_TEXTURE_PX
    u = (np.arange(w) + 0.5) / w
    v = (np.arange(h) + 0.5) / h
    s = v * profile[-1, 2]
    y = np.interp(s, profile[:, 2], profile[:, 0])
    z = np.interp(s, profile[:, 2], profile[:, 1])
    x = (u * 2 - 1) * CYC_HALF_WIDTH_M
    pts = np.stack(np.broadcast_arrays(x[None, :], y[:, None], z[:, None]), axis=-1).reshape(-1, 3)  # rows = v
    rgb = backdrop_shade(pts, centre_m, width_m)
    img = bpy.data.images.new("parley_backdrop_gradient", w, h, float_buffer=True)
    img.colorspace_settings.name = "Linear Rec.709"
    img.pixels.foreach_set(np.concatenate([rgb, np.ones((len(rgb), 1))], axis=1).astype(np.float32).ravel())
    img.pack()
    return img


def add_backdrop(bpy, scene, engine: str, *, look_z_m: float, seen_half_height_m: float):
    """Add the cyclorama to ``scene``, its halo centred at the height ``look_z_m`` on the wall where the camera
    looks and as wide as :data:`BACKDROP_HALO_WIDTH` times the half-height it sees there; returns the object."""
    prof = cyclorama_profile()
    nx = 9
    xs = np.linspace(-CYC_HALF_WIDTH_M, CYC_HALF_WIDTH_M, nx)
    verts = [(x, y, z) for y, z, _ in prof for x in xs]
    faces = [(i * nx + j, i * nx + j + 1, (i + 1) * nx + j + 1, (i + 1) * nx + j)
             for i in range(len(prof) - 1) for j in range(nx - 1)]
    me = bpy.data.meshes.new(BACKDROP_NAME)
    me.from_pydata(verts, [], faces)
    uv = me.uv_layers.new(name="UVMap")
    loops = np.empty(len(me.loops), np.int64)
    me.loops.foreach_get("vertex_index", loops)
    vi, xi = loops // nx, loops % nx
    uvs = np.stack([xi / (nx - 1), prof[vi, 2] / prof[-1, 2]], axis=1)
    uv.data.foreach_set("uv", uvs.astype(np.float32).ravel())
    me.shade_smooth()
    img = _gradient_image(bpy, prof, (0.0, CYC_WALL_Y_M, look_z_m), BACKDROP_HALO_WIDTH * seen_half_height_m)
    mat = bpy.data.materials.new("parley_backdrop")
    mat.diffuse_color = (*BACKDROP_CENTRE_RGB, 1.0)
    mat.roughness = 1.0
    mat.specular_intensity = 0.0
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = img
    tex.interpolation = "Linear"
    tex.extension = "EXTEND"
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.9
    nodes.active = tex
    me.materials.append(mat)
    obj = bpy.data.objects.new(BACKDROP_NAME, me)
    scene.collection.objects.link(obj)
    if engine == "workbench":
        scene.display.shading.color_type = "TEXTURE"  # the backdrop's gradient; other materials keep their colour
    return obj


def workbench_lighting(bpy, scene) -> None:
    """Studio lighting of :data:`WORKBENCH_LIGHTS` for Workbench renders of ``scene`` (built once per process
    from the preferences' four solid lights, which are restored afterwards)."""
    prefs = bpy.context.preferences
    lights = prefs.studio_lights
    studio = next((sl for sl in lights if sl.name == WORKBENCH_STUDIO_LIGHT), None)
    if studio is None:
        system = prefs.system
        saved = [(sl.use, tuple(sl.direction), tuple(sl.diffuse_color), tuple(sl.specular_color), sl.smooth)
                 for sl in system.solid_lights]
        saved_ambient = tuple(system.light_ambient)
        try:
            for sl, (direction, diffuse, specular, smooth) in zip(system.solid_lights, WORKBENCH_LIGHTS):
                sl.use = True
                sl.direction = tuple(np.asarray(direction) / np.linalg.norm(direction))
                sl.diffuse_color, sl.specular_color, sl.smooth = diffuse, specular, smooth
            system.light_ambient = WORKBENCH_AMBIENT_RGB
            with tempfile.TemporaryDirectory(prefix="parley-studio-") as tmp:
                studio = lights.new(str(Path(tmp) / WORKBENCH_STUDIO_LIGHT))
        finally:
            for sl, (use, direction, diffuse, specular, smooth) in zip(system.solid_lights, saved):
                sl.use, sl.direction, sl.diffuse_color, sl.specular_color, sl.smooth = (use, direction, diffuse,
                                                                                         specular, smooth)
            system.light_ambient = saved_ambient
    sh = scene.display.shading
    sh.light = "STUDIO"
    sh.studio_light = studio.name
    sh.use_world_space_lighting = False
    sh.show_cavity = False
    sh.show_specular_highlight = True
    sh.show_shadows = False
    scene.view_settings.view_transform = "Standard"  # Workbench's colours as they are (AgX flattens them)


def add_lights(bpy, scene, *, target, scale: float = 1.0) -> list:
    """Key, fill and rim area lights (:data:`AREA_LIGHTS`) aimed at ``target`` (Blender axes, m), their offsets
    and power scaled for a camera ``scale`` times farther than 1.5 m; a dim world."""
    world = bpy.data.worlds.new("parley_world")
    scene.world = world
    bg = world.node_tree.nodes.get("Background")
    if bg is not None:
        bg.inputs["Color"].default_value = (*WORLD_RGB, 1.0)
        bg.inputs["Strength"].default_value = 1.0
    target = np.asarray(target, np.float64)
    out = []
    for name, offset, power_w, size_m, colour in AREA_LIGHTS:
        ld = bpy.data.lights.new(f"parley_{name}", "AREA")
        ld.energy, ld.size, ld.color = power_w * scale ** 2, size_m * scale, colour
        lo = bpy.data.objects.new(f"parley_{name}", ld)
        scene.collection.objects.link(lo)
        p = target + np.asarray(offset) * scale
        p[1] = min(p[1], CYC_WALL_Y_M - 0.25)  # in front of the backdrop's wall
        lo.location = tuple(p)
        lo.rotation_euler = look_rotation(target - p)
        out.append(lo)
    return out


def look_rotation(direction):
    """Euler XYZ rotating -Z (a light's/camera's axis) onto ``direction``."""
    from mathutils import Vector

    return Vector(tuple(direction)).to_track_quat("-Z", "Y").to_euler()
