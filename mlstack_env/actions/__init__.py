"""What one command does below the CLI, across the layers: create an env, init and edit a
project, pick the target a create takes, tree, cache."""
