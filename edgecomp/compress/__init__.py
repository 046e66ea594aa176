"""Compression stages. Each import below registers its stages in `edgecomp.stages.STAGES`."""

from edgecomp.compress import train  # noqa: F401
from edgecomp.compress import quantize  # noqa: F401
from edgecomp.compress import distill  # noqa: F401
from edgecomp.compress import qat  # noqa: F401
from edgecomp.compress import prune  # noqa: F401
