"""Where files come from: the sources catalog, URL policy, mirrors, index pages, downloads."""
