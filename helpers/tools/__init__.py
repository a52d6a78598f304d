"""Command-line tools: the CLI, parameter tables, the benchmark."""
