"""The transformers engine's pieces that need no torch: the per-token stream and the thread
settings it records."""

import numpy as np
from workers.engines.transformers import TokenStream, parallel_settings

# a byte-level vocabulary in miniature: 1-3 are whole words, 7 and 8 the two halves of "é"
BYTES = {1: b"one", 2: b" two", 3: b"\n", 7: b"\xc3", 8: b"\xa9", 9: b"<|im_end|>"}


def decode(ids):
    return b"".join(BYTES[i] for i in ids).decode("utf-8", "replace")


def run(steps, stop_ids=frozenset({9})):
    chunks = []
    stream = TokenStream(decode, set(stop_ids), chunks.append)
    stream.put(np.array([[5, 5, 5]]))  # the prompt comes first, as generate() hands it over
    for token in steps:
        stream.put(np.array([token]))
    stream.end()
    return chunks, stream


def test_each_token_is_handed_on_as_it_comes_without_the_prompt():
    chunks, stream = run([1, 2, 3])
    assert chunks == ["one", " two", "\n"]
    assert stream.ids == [1, 2, 3] and stream.t_first_id is not None


def test_a_character_split_across_tokens_waits_for_its_second_half():
    chunks, _ = run([1, 7, 8, 2])
    assert chunks == ["one", "é", " two"]


def test_end_tokens_are_counted_but_are_not_text():
    chunks, stream = run([1, 9])
    assert chunks == ["one"] and stream.ids == [1, 9]


def test_an_unfinished_character_at_the_end_is_flushed():
    chunks, _ = run([1, 7])
    assert chunks == ["one", "\ufffd"]


def test_parallel_info_becomes_a_map():
    text = (
        "ATen/Parallel:\n\tat::get_num_threads() : 2\n\tat::get_num_interop_threads() : 2\n"
        "OpenMP 201511 (a.k.a. OpenMP 4.5)\n\tomp_get_max_threads() : 2\n"
        "Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605\n\tmkl_get_max_threads() : 2\n"
        "Environment variables:\n\tOMP_NUM_THREADS : [not set]\n\tMKL_NUM_THREADS : 1\n"
        "ATen parallel backend: OpenMP\n"
    )
    assert parallel_settings(text) == {
        "at::get_num_threads()": "2",
        "at::get_num_interop_threads()": "2",
        "omp_get_max_threads()": "2",
        "mkl_get_max_threads()": "2",
        "OMP_NUM_THREADS": "[not set]",
        "MKL_NUM_THREADS": "1",
        "backend": "OpenMP",
    }
