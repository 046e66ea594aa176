"""The public Python API: `edgecomp.build`, `edgecomp.benchmark`, `edgecomp.load_report`, stage functions.

Users reach it through the root package (`edgecomp.build(...)`), which loads these modules on first use;
the CLI (`edgecomp.cli`) is a thin layer over the same functions.
"""
