"""Links: one per physical connection (a broker, a PLC), with its connect, refusal and fault rules."""
