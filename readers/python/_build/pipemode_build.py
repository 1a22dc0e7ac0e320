"""PEP 517 / PEP 660 build backend of the pipemode Python package, so that ``pip install`` works offline.

setuptools builds the package whenever it can: where setuptools >= 61 and ``wheel`` (which
setuptools < 70.1 needs for bdist_wheel) are importable, every hook is delegated to
``setuptools.build_meta`` (e.g. ``pip install --no-build-isolation`` with Debian's python3-setuptools
and python3-wheel). Otherwise (pip's isolated build env, which is empty because this project needs
nothing from a package index, or a venv without ``wheel``) the package is built here with the
standard library only: a pure-Python ``py3-none-any`` wheel of the ``pipemode`` package, an
editable wheel (a .pth file naming this folder), or an sdist. Metadata comes from pyproject.toml.
"""
import base64
import hashlib
import io
import os
import re
import sys
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setuptools():
    if os.environ.get("PIPEMODE_BUILD_STDLIB") == "1":
        return None
    try:
        import setuptools
        import setuptools.build_meta as build_meta
        import wheel  # noqa: F401  (bdist_wheel of setuptools < 70.1)
    except ImportError:
        return None
    major = int(re.match(r"\d+", setuptools.__version__).group(0))
    return build_meta if major >= 61 else None


_ST = _setuptools()


# ---------------------------------------------------------------------------------------------
# metadata from pyproject.toml

def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        raw = f.read().decode("utf-8")
    try:
        import tomllib  # Python >= 3.11

        return tomllib.loads(raw)["project"]
    except ImportError:
        return _parse_project_table(raw)


def _parse_project_table(text):
    """The [project] and [project.optional-dependencies] tables, for the simple TOML used here (Python < 3.11)."""
    project, table = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^\[([^\]]+)\]$", line)
        if m:
            table = m.group(1)
            if table == "project.optional-dependencies":
                project.setdefault("optional-dependencies", {})
            continue
        m = re.match(r'^([A-Za-z0-9_-]+)\s*=\s*(.+)$', line)
        if not m or table not in ("project", "project.optional-dependencies"):
            continue
        key, value = m.group(1), m.group(2)
        if value.startswith('"'):
            parsed = re.match(r'^"((?:[^"\\]|\\.)*)"', value).group(1)
        elif value.startswith("["):
            parsed = re.findall(r'"((?:[^"\\]|\\.)*)"', value)
        elif value.startswith("{"):
            parsed = dict(re.findall(r'([A-Za-z0-9_-]+)\s*=\s*"((?:[^"\\]|\\.)*)"', value))
        else:
            continue
        if table == "project":
            project[key] = parsed
        else:
            project["optional-dependencies"][key] = parsed
    return project


def _metadata():
    p = _project()
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}", f"Version: {p['version']}"]
    if p.get("description"):
        lines.append(f"Summary: {p['description']}")
    lic = p.get("license")
    if isinstance(lic, dict) and lic.get("text"):
        lines.append(f"License: {lic['text']}")
    for c in p.get("classifiers", []):
        lines.append(f"Classifier: {c}")
    if p.get("requires-python"):
        lines.append(f"Requires-Python: {p['requires-python']}")
    for d in p.get("dependencies", []):
        lines.append(f"Requires-Dist: {d}")
    for extra, deps in p.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for d in deps:
            lines.append(f'Requires-Dist: {d}; extra == "{extra}"')
    body = ""
    readme = p.get("readme")
    if isinstance(readme, str) and os.path.exists(os.path.join(ROOT, readme)):
        lines.append("Description-Content-Type: text/markdown")
        with open(os.path.join(ROOT, readme), encoding="utf-8") as f:
            body = f.read()
    return p["name"], p["version"], "\n".join(lines) + "\n\n" + body


# ---------------------------------------------------------------------------------------------
# wheels

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _package_files():
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, "pipemode")):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py") or name == "py.typed":
                full = os.path.join(dirpath, name)
                out.append((os.path.relpath(full, ROOT).replace(os.sep, "/"), full))
    return out


def _dist_info_files(name, version, metadata):
    wheel = ("Wheel-Version: 1.0\nGenerator: pipemode_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    files = {"METADATA": metadata, "WHEEL": wheel, "top_level.txt": "pipemode\n"}
    return files


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{path},sha256={digest},{len(data)}"


def _write_wheel(directory, entries, name, version, metadata):
    dist_info = f"{name}-{version}.dist-info"
    for fname, text in _dist_info_files(name, version, metadata).items():
        entries.append((f"{dist_info}/{fname}", text.encode("utf-8")))
    record = [_record_line(path, data) for path, data in entries] + [f"{dist_info}/RECORD,,"]
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode("utf-8")))
    filename = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, filename), "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in entries:
            info = zipfile.ZipInfo(path, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return filename


def _stdlib_wheel(directory, editable):
    name, version, metadata = _metadata()
    if editable:
        entries = [(f"__editable__.{name}.pth", (ROOT + "\n").encode("utf-8"))]
    else:
        entries = []
        for arcname, full in _package_files():
            with open(full, "rb") as f:
                entries.append((arcname, f.read()))
    return _write_wheel(directory, entries, name, version, metadata)


def _stdlib_metadata_dir(directory):
    name, version, metadata = _metadata()
    dist_info = f"{name}-{version}.dist-info"
    os.makedirs(os.path.join(directory, dist_info), exist_ok=True)
    for fname, text in _dist_info_files(name, version, metadata).items():
        with open(os.path.join(directory, dist_info, fname), "w", encoding="utf-8") as f:
            f.write(text)
    return dist_info


def _stdlib_sdist(directory):
    name, version, metadata = _metadata()
    base = f"{name}-{version}"
    filename = f"{base}.tar.gz"
    members = []
    for top in ("pyproject.toml", "README.md", "MANIFEST.in", "bench_reader.py"):
        if os.path.exists(os.path.join(ROOT, top)):
            members.append(top)
    for sub in ("pipemode", "_build", "tests"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, sub)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            members += [os.path.relpath(os.path.join(dirpath, n), ROOT) for n in sorted(filenames) if n.endswith(".py")]
    with tarfile.open(os.path.join(directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(arcname, data):
            info = tarfile.TarInfo(f"{base}/{arcname}")
            info.size, info.mode, info.mtime = len(data), 0o644, 315532800
            tar.addfile(info, io.BytesIO(data))

        add("PKG-INFO", metadata.encode("utf-8"))
        for rel in members:
            with open(os.path.join(ROOT, rel), "rb") as f:
                add(rel.replace(os.sep, "/"), f.read())
    return filename


# ---------------------------------------------------------------------------------------------
# PEP 517 / 660 hooks

def get_requires_for_build_wheel(config_settings=None):
    return _ST.get_requires_for_build_wheel(config_settings) if _ST else []


def get_requires_for_build_sdist(config_settings=None):
    return _ST.get_requires_for_build_sdist(config_settings) if _ST else []


def get_requires_for_build_editable(config_settings=None):
    if _ST and hasattr(_ST, "get_requires_for_build_editable"):
        return _ST.get_requires_for_build_editable(config_settings)
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    if _ST:
        return _ST.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
    return _stdlib_metadata_dir(metadata_directory)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    if _ST and hasattr(_ST, "prepare_metadata_for_build_editable"):
        return _ST.prepare_metadata_for_build_editable(metadata_directory, config_settings)
    return _stdlib_metadata_dir(metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if _ST:
        return _ST.build_wheel(wheel_directory, config_settings, metadata_directory)
    return _stdlib_wheel(wheel_directory, editable=False)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    if _ST and hasattr(_ST, "build_editable"):
        return _ST.build_editable(wheel_directory, config_settings, metadata_directory)
    return _stdlib_wheel(wheel_directory, editable=True)


def build_sdist(sdist_directory, config_settings=None):
    if _ST:
        return _ST.build_sdist(sdist_directory, config_settings)
    return _stdlib_sdist(sdist_directory)


if __name__ == "__main__":  # python3 _build/pipemode_build.py DIR: a wheel into DIR, with the stdlib builder
    print(_stdlib_wheel(sys.argv[1] if len(sys.argv) > 1 else ".", editable=False))
