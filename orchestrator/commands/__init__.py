"""The command line: thin click commands (parse -> call -> render). May import every other layer."""
