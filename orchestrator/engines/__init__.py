"""Engines, parent side: one package per engine (options, paths, model files, test models, doctor checks)."""
