"""What leaves the machine: container recipes and offline bundles."""
