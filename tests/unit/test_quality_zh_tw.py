"""zh-TW conversion: OpenCC s2twp, and the stream helper never changes the final text."""

import pytest
from orchestrator.quality.zh_tw import StreamConverter, to_zh_tw


def test_s2twp_uses_taiwan_phrases():
    assert to_zh_tw("这个软件的鼠标") == "這個軟體的滑鼠"
    assert to_zh_tw("") == ""


TEXT = "这个软件很好用。我下载了U盘驱动，鼠标也换了！最后一句没有标点"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_stream_chunks_never_change_the_final_text(size):
    conv = StreamConverter()
    pieces = [conv.feed(TEXT[i : i + size]) for i in range(0, len(TEXT), size)]
    pieces.append(conv.finish())
    assert "".join(pieces) == to_zh_tw(TEXT) == conv.text
    assert any(pieces[:-1])  # something was shown before the end


def test_stream_holds_back_until_a_boundary():
    conv = StreamConverter()
    assert conv.feed("这个软") == ""  # 软 may become 軟體's first half: nothing stable yet
    assert conv.feed("件。") == "這個軟體。"
    assert conv.finish() == ""
