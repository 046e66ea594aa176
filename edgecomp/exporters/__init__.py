"""Exporters (pure functions named source_to_target) and the parity check against Keras."""
