"""Engines behind one small interface (workers.engines.base.Engine)."""
