"""Web pages served by the API (plain HTML and JavaScript, no build step)."""
