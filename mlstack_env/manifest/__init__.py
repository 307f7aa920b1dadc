"""The project: mlstack.toml, its profiles, sites, edits and `init`."""
