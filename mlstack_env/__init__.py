"""mlstack: reproducible environment manager for machine-learning stacks on AMD GPUs."""

__version__ = "0.1.0"
