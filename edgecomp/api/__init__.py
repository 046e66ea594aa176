"""The public Python API: `edgecomp.build`, `edgecomp.bench`, `edgecomp.search`, `edgecomp.report.load`, stage functions.

Users reach it through the root package (`edgecomp.build(...)`), which loads these modules on first use;
the CLI (`edgecomp.cli`) is a thin layer over the same functions.
"""
