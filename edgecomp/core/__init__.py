"""Leaf helpers every layer may use: errors, the registry, settings base, TensorFlow loading,
verbosity, progress lines, typed records. Imports nothing else of edgecomp.
"""
