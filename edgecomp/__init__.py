"""edgecomp: compress a Keras image model, export it for the edge and measure it on the device."""

__version__ = "0.1.0"
