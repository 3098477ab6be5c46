"""Reads counts from sources, feeds the engine, and pushes line state to outputs."""
