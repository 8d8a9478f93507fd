"""The engine interface every strategy drives.

It is shaped after chatllm.cpp: its Python bindings create a model object that loads at once,
stream output chunks through a callback, `restart()` the conversation and, in the C API,
`chatllm_destroy` the object; its `main` executable takes the model and the input on its
command line and streams the transcript to stdout.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Request:
    i: int  # iteration index, 1-based
    audio: str | None = None
    transcript: str | None = None  # forced alignment: the words to align
    language: str | None = None
    # the start of the answer to continue from (orch stream); only for an engine whose
    # `takes_prefix` is True, which then returns the whole answer, this prefix included
    prefix: str | None = None
    offset_s: float = 0.0  # where the audio starts in a stream (orch stream), seconds


@dataclass
class CliInvocation:
    """How to run the engine's command-line program for one request."""

    argv: list[str]
    env: dict | None = None
    # a regex (bytes) that the program prints on stderr once its model is loaded; the
    # request is stamped then. None: the request is stamped at spawn, so TTFT includes
    # process start and model load, and the record says so.
    ready_pattern: bytes | None = None
    # a line for interactive mode: the program's prompt (bytes) it prints when ready for input
    prompt: bytes | None = None
    # a regex (bytes) that stdout matches once a one-shot program has finished its answer;
    # it tells an abort at teardown (result complete) from one in the middle of the answer.
    # None: any output counts as a finished answer.
    done_pattern: bytes | None = None


class EngineError(Exception):
    """The engine refused the input (missing or corrupt model, not an audio file, ...)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class Engine(abc.ABC):
    name: str = "?"
    # whether `transcribe` continues a given start of the answer (Request.prefix)
    takes_prefix: bool = False

    def __init__(self, options: dict):
        self.options = dict(options)

    @abc.abstractmethod
    def load(self, model: str | None) -> None:
        """Create the model object (chatllm.cpp loads in the constructor)."""

    @abc.abstractmethod
    def transcribe(self, request: Request, on_chunk: Callable[[str], None]) -> str:
        """Run one request, calling on_chunk for every streamed piece; return the raw text."""

    @abc.abstractmethod
    def restart(self) -> None:
        """Reset the conversation, keep the weights."""

    @abc.abstractmethod
    def unload(self) -> None:
        """Drop the model object (how depends on the engine and its options)."""

    def info(self) -> dict:
        return {"name": self.name}

    def prefix_taken(self, request: Request) -> bool:
        """Whether this request's start of the answer can be taken (orch stream): by default
        whenever the engine takes one at all."""
        return self.takes_prefix

    def request_facts(self) -> dict:
        """Facts about the last request for its record's `extra` (whether it streamed, tokens
        in and out, why it stopped); none by default."""
        return {}

    # -- command-line twin (strategies `cli` and `cli-interactive`) --
    def cli_invocation(self, model: str | None, request: Request, interactive: bool = False) -> CliInvocation:
        raise EngineError("unsupported", f"engine {self.name} has no command-line program")

    def clean_text(self, raw: str) -> str:
        """The transcript inside the engine's raw output (framing stripped)."""
        return raw.strip()
