"""The calibration engine, parent side: its options (options.py). It needs nothing installed,
runs every strategy (its command-line twin stands in for a program), and has no doctor checks
or test models of its own; the worker side is workers/engines/calibration.py."""
