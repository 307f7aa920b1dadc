"""A target (ROCm version, gfx, Python) and what it means for a GPU: variables, fit, assessment."""
