"""The HTTP API (FastAPI): lines, boards, counts, andon calls, problems, live stream, metrics."""
