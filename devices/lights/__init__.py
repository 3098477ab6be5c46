"""Stack light drivers: one file each, found at start-up (a module with a DRIVER)."""
