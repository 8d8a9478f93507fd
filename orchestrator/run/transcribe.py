"""`orch transcribe`'s pipeline: one long-lived worker (strategy `restart`, one model load)
takes one request per audio file; each streamed chunk goes to the listener the moment its
`token` event arrives; each finished file goes through the quality pipeline (zh-TW + ITN,
CER/WER against its reference), with --srt through a second long-lived worker running the
forced aligner on the file's transcript, and its record is written (JSONL: exactly once,
orchestrator.run.record_sink; JSON: the whole list, replaced atomically) before the next
file starts.

The parent paces the workers with the protocol's own marks: a worker waits at each
request's `before_infer` mark until the parent acks it, so the aligner is asked about file k
only once file k's transcript is written where its config says (`transcript_file`).

A worker that fails on a file (an engine error, a crash, no progress for --iter-timeout)
fails that file; a new worker takes the rest. A model that does not load fails every file
left. Ctrl-C stops the workers and keeps every finished file's record.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from workers import protocol

from orchestrator.errors import ExitCode, OrchError, WriteFailed
from orchestrator.quality import pipeline
from orchestrator.results import alignment, metrics
from orchestrator.results.atomic import write_text_atomic
from orchestrator.results.transcript import FAILED, OK, FileTranscript, TranscribeSummary
from orchestrator.run import crash_cause, worker_config, worker_env
from orchestrator.run.plan import RunPlan
from orchestrator.run.record_sink import RecordSink
from orchestrator.run.transcribe_inputs import AudioInput, TranscribeJob
from orchestrator.run.worker_process import WorkerExited, WorkerProcess, WorkerTimeout


class Listener(Protocol):
    """What the terminal view is told, in order, for each file."""

    def file_started(self, index: int, item: AudioInput) -> None: ...
    def chunk(self, text: str) -> None: ...
    def file_done(self, record: FileTranscript) -> None: ...


class TranscribeInterrupted(Exception):
    """Ctrl-C: carries what was done (every finished file's record is on disk)."""

    def __init__(self, summary: TranscribeSummary):
        super().__init__("interrupted")
        self.summary = summary


class RequestFailed(Exception):
    """The worker could not finish this request; `loaded`: whether its model had loaded."""

    def __init__(self, message: str, loaded: bool, partial: str = ""):
        super().__init__(message)
        self.loaded = loaded
        self.partial = partial


class PacedWorker:
    """A `restart` worker given `inputs`, driven one request at a time: `request(i)` acks
    its `before_infer` mark, passes on its chunks, and returns its `iteration_done`."""

    def __init__(self, name: str, config: protocol.WorkerConfig, log_path: Path, timeout: float, env: dict[str, str]):
        self.name = name
        self.timeout = timeout
        self.wp = WorkerProcess(name, config, log_path, env=env)
        self.loaded = False
        self.error: protocol.Error | None = None

    def request(self, i: int, on_chunk: Callable[[str], None]) -> tuple[protocol.IterationDone, list]:
        """(iteration_done, [(chunk, worker time)]) of request i; RequestFailed otherwise."""
        import time

        chunks: list[tuple[str, float]] = []
        started = False
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                ev = self.wp.next_event(deadline)
                if isinstance(ev, protocol.Phase):
                    self.wp.ack()
                    if ev.name == "after_load":
                        self.loaded = True
                    deadline = time.monotonic() + self.timeout
                elif isinstance(ev, protocol.IterationStart):
                    started = ev.i == i
                elif isinstance(ev, protocol.Token):
                    chunks.append((ev.text, ev.t))
                    on_chunk(ev.text)
                    deadline = time.monotonic() + self.timeout
                elif isinstance(ev, protocol.IterationDone) and started:
                    return ev, chunks
                elif isinstance(ev, protocol.Error):
                    self.error = ev
                elif isinstance(ev, protocol.Done):
                    raise protocol.ProtocolError(f"worker {self.name} finished before request {i}")
        except WorkerTimeout:
            self.wp.kill()
            where = "while loading the model" if not self.loaded else "on this file"
            raise RequestFailed(
                f"no progress for {self.timeout:g} s {where}; worker killed", self.loaded, _joined(chunks)
            ) from None
        except WorkerExited:
            _sig, how = self.wp.exit_description()
            why = f"{self.error.kind}: {self.error.message}" if self.error else how
            why += crash_cause.cause_suffix(self.wp.log_tail(4000), why)
            raise RequestFailed(why, self.loaded, _joined(chunks)) from None
        except protocol.ProtocolError as exc:
            self.wp.kill()
            raise RequestFailed(str(exc), self.loaded, _joined(chunks)) from None

    def finish(self) -> None:
        """Let the worker unload and exit (its `after_unload` mark acked), or kill it."""
        import time

        deadline = time.monotonic() + self.timeout
        try:
            while not isinstance(self.wp.next_event(deadline), protocol.Done):
                self.wp.ack()  # a phase mark; anything else after the last request is ignored
            self.wp.wait_exit(10)
        except (WorkerTimeout, WorkerExited, protocol.ProtocolError):
            pass
        self.close()

    def close(self) -> None:
        self.wp.__exit__(None, None, None)  # kills what is left of its process group


def _joined(chunks: list[tuple[str, float]]) -> str:
    return "".join(text for text, _ in chunks)


class Workers:
    """The ASR worker and, for --srt, the aligner's: each started for the files left (one
    model load for all of them), started again after a failure."""

    def __init__(self, job: TranscribeJob, scratch: Path):
        self.job = job
        self.scratch = scratch
        self.env = worker_env.build().environ
        self.asr: PacedWorker | None = None
        self.aligner: PacedWorker | None = None

    def transcript_file(self, index: int) -> Path:
        return self.scratch / f"{index}.txt"

    def _config(self, plan: RunPlan, first: int, scenario: str) -> protocol.WorkerConfig:
        """The plan's worker config (worker_config.build), given every file from `first` on."""
        inputs = tuple(
            {"audio": item.path, **({"transcript_file": str(self.transcript_file(k))} if scenario == "align" else {})}
            # each file's own language (orch transcribe guesses it per file)
            | ({"language": item.language} if scenario == "asr" and item.language else {})
            for k, item in enumerate(self.job.inputs, 1)
        )
        return dataclasses.replace(
            worker_config.build(plan, "restart"),
            audio=None,
            transcript=None,
            language=self.job.language if scenario == "asr" else None,
            inputs=inputs,
            first_i=first,
            iters=len(inputs) - first + 1,
        )

    def asr_for(self, index: int) -> PacedWorker:
        if self.asr is None:
            config = self._config(self.job.plan, index, "asr")
            self.asr = PacedWorker(
                f"asr#{index}", config, self.scratch / "asr.worker.log", self.job.iter_timeout, self.env
            )
        return self.asr

    def aligner_for(self, index: int) -> PacedWorker:
        if self.aligner is None:
            assert self.job.aligner_plan is not None
            config = self._config(self.job.aligner_plan, index, "align")
            self.aligner = PacedWorker(
                f"aligner#{index}", config, self.scratch / "aligner.worker.log", self.job.iter_timeout, self.env
            )
        return self.aligner

    def drop(self, which: str) -> None:
        worker = getattr(self, which)
        if worker is not None:
            worker.close()
            setattr(self, which, None)

    def finish(self) -> None:
        for which in ("asr", "aligner"):
            worker = getattr(self, which)
            if worker is not None:
                worker.finish()
                setattr(self, which, None)

    def close(self) -> None:
        for which in ("asr", "aligner"):
            self.drop(which)


def transcribe(job: TranscribeJob, listener: Listener) -> TranscribeSummary:
    """Every file in order; TranscribeInterrupted on Ctrl-C (what was done is on disk)."""
    summary = TranscribeSummary(total=len(job.inputs))
    scratch = Path(tempfile.mkdtemp(prefix="orch-transcribe-"))
    sink: RecordSink[FileTranscript] | None = None
    if job.jsonl_path:
        job.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
        job.jsonl_path.write_bytes(b"")  # this run's records only
        sink = RecordSink(job.jsonl_path)
    workers = Workers(job, scratch)
    pipeline.process_transcript("", None, None)  # its dictionaries, loaded before the first file
    load_error: str | None = None  # the model did not load: every file left fails with it
    try:
        for index, item in enumerate(job.inputs, 1):
            if load_error:
                record = _failed(index, item, load_error)
            else:
                listener.file_started(index, item)
                record = _one_file(workers, index, item, listener.chunk)
                if record.error and record.error.startswith(_LOAD_FAILED):
                    load_error = record.error
            if sink:
                sink.write(record)
            summary.records.append(record)
            _write_list(job, summary)
            listener.file_done(record)
        workers.finish()
    except KeyboardInterrupt:
        summary.interrupted = True
        if sink:  # what is on disk, whichever line the stop landed on
            summary.records = list(sink.records)
        _write_list(job, summary)
        raise TranscribeInterrupted(summary) from None
    except WriteFailed as exc:  # a full disk: one line, the file and what is kept; exit 1
        kept = [f"{sink.whole_lines} whole record(s) in {job.jsonl_path}"] if sink and sink.whole_lines else []
        raise OrchError(exc.what_was_kept(kept), ExitCode.FAILED) from None
    finally:
        workers.close()
        if sink:
            sink.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return summary


_LOAD_FAILED = "the model did not load: "


def _write_list(job: TranscribeJob, summary: TranscribeSummary) -> None:
    """--json: the records so far, as one list (rewritten after every file)."""
    if job.json_path:
        records = [r.to_json() for r in summary.records]
        try:
            write_text_atomic(job.json_path, json.dumps(records, ensure_ascii=False, indent=1))
        except OSError as exc:  # a full disk: one line naming the file, exit 1
            raise WriteFailed(job.json_path, exc) from None


def _failed(index: int, item: AudioInput, error: str) -> FileTranscript:
    return FileTranscript(
        index=index,
        file=item.path,
        status=FAILED,
        audio_s=item.audio_s,
        language=item.language,
        text_raw="",
        text="",
        reference=item.reference_file,
        srt=None,
        error=error,
    )


def _one_file(workers: Workers, index: int, item: AudioInput, on_chunk: Callable[[str], None]) -> FileTranscript:
    asr = workers.asr_for(index)
    try:
        done, chunks = asr.request(index, on_chunk)
    except RequestFailed as exc:
        workers.drop("asr")
        record = _failed(index, item, (_LOAD_FAILED if not exc.loaded else "") + str(exc))
        record.text_raw = exc.partial
        return record
    timing = metrics.timing(done.t_request, done.t_end, chunks, item.audio_s, done.extra.get("streamed"))
    scored = pipeline.process_transcript(done.text, item.language, item.reference)
    record = FileTranscript(
        index=index,
        file=item.path,
        status=OK,
        audio_s=item.audio_s,
        language=item.language,
        text_raw=done.text,
        text=scored["text"],
        ttft_ms=timing["ttft_ms"],
        latency_ms=timing["latency_ms"],
        rtf=timing["rtf"],
        tokens=timing["tokens"],
        load_ms=done.load_ms,
        reference=item.reference_file,
        cer=scored["cer"],
        wer=scored["wer"],
    )
    if item.srt:
        _align(workers, index, item, record)
    return record


def _align(workers: Workers, index: int, item: AudioInput, record: FileTranscript) -> None:
    """The aligner on the file's transcript (the engine's text: the words as spoken, before
    ITN turns them into digits), its words as SRT."""
    assert item.srt is not None
    words_in = record.text_raw.strip()
    if not words_in:
        write_text_atomic(item.srt, "")
        record.srt, record.alignment_violations = item.srt, 0
        return
    write_text_atomic(workers.transcript_file(index), words_in)
    try:
        done, _chunks = workers.aligner_for(index).request(index, lambda _text: None)
    except RequestFailed as exc:
        workers.drop("aligner")
        record.status, record.error = FAILED, f"forced aligner: {exc}"
        return
    checked = alignment.check(done.text, words_in, item.audio_s)
    write_text_atomic(item.srt, alignment.to_srt(checked["words"]))
    record.srt, record.alignment_violations = item.srt, checked["violations"]
