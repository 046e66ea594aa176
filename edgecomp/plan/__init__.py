"""The typed plan: every stage's settings, presets and the search space's settings.
Pydantic only: reading a plan imports no stage and no TensorFlow.
"""
