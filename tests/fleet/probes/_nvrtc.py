"""NVRTC, the compiler CuPy's ``RawModule`` runs on a GPU host, called here without a GPU.

The library comes from NVIDIA's ``nvidia-cuda-nvrtc`` wheel (a test dependency on Linux
x86_64); compiling needs no device or driver, so the kernels are built here exactly as the GPU
backend has them built there, with CuPy's own additions to its options.
"""

from __future__ import annotations

import ctypes
from importlib.util import find_spec
from pathlib import Path

CUPY_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")
"""What CuPy (13 and 14) adds to a ``RawModule``'s options, besides ``-arch=sm_XX``."""


class NvrtcError(RuntimeError):
    """NVRTC refused the source; the message holds its log."""


def library() -> ctypes.CDLL | None:
    """The wheel's libnvrtc, or ``None`` where it is not installed."""
    spec = find_spec("nvidia")
    for root in spec.submodule_search_locations or [] if spec else []:
        for path in sorted(Path(root).glob("cu*/lib/libnvrtc.so.*")):
            # libnvrtc opens its builtins by name at compile time: loaded first, they are found.
            for builtins in path.parent.glob("libnvrtc-builtins.so.*"):
                ctypes.CDLL(str(builtins), mode=ctypes.RTLD_GLOBAL)
            return ctypes.CDLL(str(path))
    return None


def version(lib: ctypes.CDLL) -> tuple[int, int]:
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(lib, lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)))
    return major.value, minor.value


def compile_ptx(lib: ctypes.CDLL, source: str, options: tuple[str, ...]) -> tuple[str, str]:
    """The PTX and the compile log of ``source``; ``NvrtcError`` with the log if it fails."""
    program = ctypes.c_void_p()
    _check(
        lib,
        lib.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"probes.cu", 0, None, None),
    )
    try:
        argv = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        status = lib.nvrtcCompileProgram(program, len(options), argv)
        log = _text(lib, program, lib.nvrtcGetProgramLogSize, lib.nvrtcGetProgramLog)
        if status != 0:
            raise NvrtcError(f"NVRTC failed with {' '.join(options)}:\n{log}")
        return _text(lib, program, lib.nvrtcGetPTXSize, lib.nvrtcGetPTX), log
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(program))


def _text(lib: ctypes.CDLL, program: ctypes.c_void_p, size_of, read) -> str:  # type: ignore[no-untyped-def]
    size = ctypes.c_size_t()
    _check(lib, size_of(program, ctypes.byref(size)))
    buffer = ctypes.create_string_buffer(size.value)
    _check(lib, read(program, buffer))
    return buffer.value.decode()


def _check(lib: ctypes.CDLL, status: int) -> None:
    if status != 0:
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        raise NvrtcError(lib.nvrtcGetErrorString(status).decode())
