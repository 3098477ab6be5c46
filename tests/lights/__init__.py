"""Stack light and andon button tests against real peers."""
