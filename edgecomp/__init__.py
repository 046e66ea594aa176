"""edgecomp: compress a Keras image model, export it for the edge and measure it on the device."""

from edgecomp.core.version import __version__

__all__ = ["__version__"]
