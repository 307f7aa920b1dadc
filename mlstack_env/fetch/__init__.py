"""Where files come from: the URL policy, mirrors, index pages, locating a locked file, small
reads over HTTP and the downloader of wheels (the sources themselves are catalog data:
catalog/sources.py)."""
