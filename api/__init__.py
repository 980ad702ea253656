"""The HTTP entry point: the Litestar application and the `concertbook` command."""
