"""The `salesync` command line: serve, tokens, migrations."""
