"""The build: the stages in order, the stage cache and its saved state, export and benchmark of
every artifact, and benchmarking files you bring.
"""
