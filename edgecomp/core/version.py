"""edgecomp's version, in a leaf module so reports and metadata can record it without importing the API."""

__version__ = "0.1.0"
