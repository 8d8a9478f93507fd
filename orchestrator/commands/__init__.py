"""The command line: one thin click command per module (or family): parse the options, call
the layer below, render with results/ or history/, exit with an errors.ExitCode. Nothing else
lives here: no statistics, no running, no rendering of its own.

May import: studies, run, history, results, quality, engines (and errors). A command's --help
must stay cheap (`orch --help` imports no command; a command module's top imports nothing
heavy: the studies, the runner and the history are imported inside the command, with a
comment). Layers are checked by import-linter (pyproject.toml)."""
