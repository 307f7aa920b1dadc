"""Primitives every layer may use: errors, paths, files, names, units, environment
variable names."""
