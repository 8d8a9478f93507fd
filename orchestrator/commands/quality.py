"""`orch itn` and `orch score`."""

from __future__ import annotations

import io
from pathlib import Path

import click

from orchestrator.errors import CannotStart, OrchError, decode_utf8, read_text_file
from orchestrator.quality import pipeline, scoring
from orchestrator.quality.itn import itn as normalize
from orchestrator.quality.zh_tw import to_zh_tw
from orchestrator.results.score_table import ALIGNMENT_HEADERS, SCORE_HEADERS, alignment_rows, score_json, score_row
from orchestrator.results.tabular import format_option, render_table


def _one_error(problems: list[str]) -> OrchError:
    return OrchError(problems[0]) if len(problems) == 1 else CannotStart(problems)


@click.command()
@click.option(
    "--zh-tw",
    "zh_tw_first",
    is_flag=True,
    help="Convert each line to Traditional Chinese (OpenCC s2twp) before the ITN.",
)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
def itn(zh_tw_first: bool, files: tuple[str, ...]) -> None:
    """Inverse text normalization of Chinese numerals: reads lines from the FILES (default,
    or `-`: stdin) and writes each line normalized to stdout, exactly one line out per line
    in (一万三千七百零二 -> 13702). Input must be UTF-8: a byte that is not is named by its
    offset (exit 2); files are checked before anything is written, stdin as it is read."""
    inputs, problems = [], []
    for name in files or ("-",):
        if name == "-":
            inputs.append(("stdin", click.open_file("-", "rb")))
            continue
        try:
            data = Path(name).read_bytes()
            decode_utf8(data, name)
        except OSError as exc:
            problems.append(f"cannot read {name}: {exc.strerror or exc}")
        except OrchError as exc:
            problems.append(exc.message)
        else:
            inputs.append((name, io.BytesIO(data)))
    if problems:
        raise _one_error(problems)
    stdout = click.open_file("-", "wb")
    for name, stream in inputs:
        offset = 0
        for raw in stream:  # bytes split on b"\n" only: a stray \r never makes two lines of one
            try:
                line = raw.decode("utf-8").rstrip("\n")
            except UnicodeDecodeError as exc:
                raise OrchError(
                    f"{name} is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset "
                    f"{offset + exc.start} ({exc.reason})"
                ) from None
            offset += len(raw)
            cr = line.endswith("\r")
            if cr:
                line = line[:-1]
            if zh_tw_first:
                line = to_zh_tw(line)
            out = normalize(line).replace("\n", " ")
            stdout.write((out + ("\r" if cr else "") + "\n").encode("utf-8"))
            stdout.flush()


@click.command()
@click.option(
    "--reference", "reference", required=True, type=click.Path(dir_okay=False), help="Reference transcript (UTF-8)."
)
@click.option(
    "--hypothesis", "hypothesis", required=True, type=click.Path(dir_okay=False), help="Hypothesis transcript (UTF-8)."
)
@click.option(
    "--mode",
    type=click.Choice(["auto", "cer", "wer", "mixed"]),
    default="auto",
    show_default=True,
    help="cer: characters (Chinese); wer: words; mixed: CJK characters + Latin words.",
)
@click.option(
    "--no-normalize",
    "no_normalize",
    is_flag=True,
    help="Score the texts as they are (no width/case/punctuation/whitespace step); "
    "the numbers are then exactly jiwer.cer / jiwer.wer of the two files.",
)
@click.option(
    "--convert", is_flag=True, help="First pass both sides through zh-TW + ITN, as the harness does for Chinese."
)
@format_option()
def score(reference: str, hypothesis: str, mode: str, no_normalize: bool, convert: bool, fmt: str) -> None:
    """CER / WER of a hypothesis against a reference, and the alignment (substitutions,
    deletions, insertions)."""
    texts, problems = {}, []
    for what, path in (("reference", reference), ("hypothesis", hypothesis)):
        try:  # both files checked: every problem named at once
            texts[what] = read_text_file(path, what)
        except OrchError as exc:
            problems.append(exc.message)
    if problems:
        raise _one_error(problems)
    ref, hyp = texts["reference"], texts["hypothesis"]
    if convert:  # as the harness does: Chinese is decided before ITN turns numerals into digits
        chinese = pipeline.is_chinese(None, ref if scoring.has_letters(ref) else hyp)  # docs/quality.md
        ref, hyp = pipeline.to_display(ref, chinese), pipeline.to_display(hyp, chinese)
        if mode == "auto":
            mode = pipeline.metric(chinese, ref)
    result = scoring.score(ref, hyp, mode=mode, normalize=not no_normalize)
    if fmt == "json":
        click.echo(score_json(result))
        return
    click.echo(render_table(SCORE_HEADERS, [score_row(result)], fmt))
    if result.reference_tokens == 0 and result.hypothesis_tokens:
        click.echo("(empty reference: the rate is the number of inserted tokens, as in jiwer)", err=True)
    if result.alignment:
        click.echo("")
        click.echo(render_table(ALIGNMENT_HEADERS, alignment_rows(result), fmt))
