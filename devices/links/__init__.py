"""Links to physical connections (a PLC, a bus), one per connection, shared by every driver on it."""
