"""Builds the Cython kernels (mcu._mix) and batched RTP I/O (mcu._rtp) with optimisation on; everything else is in pyproject.toml."""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "mcu._mix",
        ["mcu/_mix.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
    Extension("mcu._rtp", ["mcu/_rtp.pyx"], extra_compile_args=["-O3"]),  # recvmmsg/sendmmsg, RTP parse
    Extension("mcu._jitter", ["mcu/_jitter.pyx"], extra_compile_args=["-O3"]),  # the audio jitter buffer
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)
