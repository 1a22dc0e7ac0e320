"""CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses it.

``crc32c(data)`` picks the fastest implementation importable here, in this order:
``google_crc32c`` (its C build only), ``crc32c`` (ICRAR, hardware-accelerated), ``crcmod`` (its C
extension only; Debian: python3-crcmod), else the pure-Python table code below (slicing-by-8,
tens of MB/s). ``IMPLEMENTATION`` names the one chosen; the environment variable
``PIPEMODE_CRC32C=python`` forces the pure-Python code (tests use it to compare implementations).
"""
import os
import sys

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _make_tables():
    t0 = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[n] >> 8) ^ t0[prev[n] & 0xFF] for n in range(256)])
    return [tuple(t) for t in tables]


_T = _make_tables()
_T0 = _T[0]


def crc32c_python(data, crc=0):
    """Pure-Python CRC32C of a bytes-like object, continuing from ``crc`` (a finished CRC, default 0)."""
    mv = memoryview(data).cast("B")
    n = len(mv)
    crc ^= 0xFFFFFFFF
    t0 = _T0
    i = 0
    if n >= 16 and sys.byteorder == "little":
        t0, t1, t2, t3, t4, t5, t6, t7 = _T
        i = n & ~7
        for w in mv[:i].cast("Q"):
            x = w ^ crc
            crc = (t7[x & 0xFF] ^ t6[(x >> 8) & 0xFF] ^ t5[(x >> 16) & 0xFF] ^ t4[(x >> 24) & 0xFF]
                   ^ t3[(x >> 32) & 0xFF] ^ t2[(x >> 40) & 0xFF] ^ t1[(x >> 48) & 0xFF] ^ t0[x >> 56])
    for b in mv[i:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _pick():
    if os.environ.get("PIPEMODE_CRC32C", "").lower() == "python":
        return crc32c_python, "python"
    try:
        import google_crc32c  # type: ignore

        if getattr(google_crc32c, "implementation", "") == "c":
            value = google_crc32c.value

            def crc_google(data):
                try:
                    return value(data)
                except TypeError:
                    return value(bytes(data))

            return crc_google, "google_crc32c"
    except ImportError:
        pass
    try:
        import crc32c as icrar  # type: ignore

        fn = getattr(icrar, "crc32c", None) or getattr(icrar, "crc32", None)
        if fn is not None:
            return fn, "crc32c"
    except ImportError:
        pass
    try:
        import crcmod._crcfunext  # type: ignore  # noqa: F401  (the C extension: pure-Python crcmod is slow)
        import crcmod.predefined  # type: ignore

        return crcmod.predefined.mkPredefinedCrcFun("crc-32c"), "crcmod"
    except ImportError:
        pass
    return crc32c_python, "python"


crc32c, IMPLEMENTATION = _pick()


def masked_crc32c(data):
    """TFRecord's masked CRC: ``((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2^32)."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c_python(data):
    crc = crc32c_python(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF
