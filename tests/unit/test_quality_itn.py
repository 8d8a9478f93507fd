"""Chinese ITN: the shared cases file (Simplified and Traditional), our own cases, the CLI."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from orchestrator.commands.quality import itn as itn_command
from orchestrator.quality.cases import load_cases, variant
from orchestrator.quality.itn import itn, parse_int

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "itn" / "cases.txt"
TARGET = 0.97


@pytest.mark.parametrize("name", ["simplified", "s2t", "s2tw"])
def test_shared_cases_file(name):
    if not CASES.is_file():
        pytest.skip(f"ITN cases file not found at {CASES} (it lives in shared/, beside the repo)")
    cases = variant(load_cases(CASES), name)
    assert len(cases) > 100
    misses = [(src, want, itn(src)) for src, want in cases if itn(src) != want]
    ratio = 1 - len(misses) / len(cases)
    assert ratio >= TARGET, f"{name}: {ratio:.1%} exact; misses: {misses[:10]}"


# Our own cases (not from the shared file): what a reader of a transcript expects.
OWN = [
    # Traditional spellings
    ("一萬三千七百零二", "13702"),
    ("三點一四", "3.14"),
    ("兩千零八年", "2008年"),
    ("七億五千萬", "7億5000萬"),
    ("電話是零九一二三四五六七八", "電話是0912345678"),
    ("二零二四年三月五號", "2024年3月5號"),
    ("兩點零二分", "02:02"),
    ("百分之兩點五", "2.5%"),
    ("一點一滴", "一點一滴"),
    ("亂七八糟", "亂七八糟"),
    ("三四萬人", "3~4萬人"),
    # idioms, measure words, lone numerals stay
    ("他吃了一半", "他吃了一半"),
    ("我買了一雙鞋", "我買了一雙鞋"),
    ("一双鞋", "一双鞋"),
    ("七八个人", "七八个人"),
    ("他十分努力", "他十分努力"),
    ("十万火急", "十万火急"),
    ("千万不要", "千万不要"),
    ("万一下雨", "万一下雨"),
    ("第一次", "第一次"),
    ("三点钟", "三点钟"),
    ("有一点点", "有一点点"),
    ("五四运动", "五四运动"),
    # cardinals, abbreviations, measure words after numbers
    ("考了九十分", "考了90分"),
    ("三十两银子", "30两银子"),
    ("一万二", "12000"),
    ("两百五十块", "250块"),
    ("第一百零八", "第108"),
    ("十二点", "12点"),
    # ranges and spans
    ("三到五个", "三到五个"),
    ("三到五十", "3到50"),
    ("二十至三十度", "20至30度"),
    ("两三百", "200~300"),
    ("三十七八岁", "37~38岁"),
    # Latin context, decimals with units
    ("iPhone十一", "iPhone11"),
    ("五点五克", "5.5g"),
    ("零点五", "0.5"),
    ("百分之百", "100%"),
    ("三分之一", "1/3"),
    ("", ""),
    ("hello world", "hello world"),
]


@pytest.mark.parametrize("src,want", OWN)
def test_own_cases(src, want):
    assert itn(src) == want


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=10**12 - 1))
def test_cardinals_round_trip(n):
    """Any number cn2an writes in characters reads back as the same value."""
    import cn2an

    spoken = cn2an.an2cn(n)
    assert parse_int(spoken) == n
    if not spoken.endswith(("万", "亿")) and len(spoken) > 1:
        assert itn(spoken) == str(n)


def test_invalid_cardinals_are_left_alone():
    for s in ("二十五千", "十两", "千万", "万一", "百一", "一二三"):
        assert parse_int(s) is None, s


def test_cli_one_line_out_per_line_in():
    lines = ["一万三千七百零二", "", "这是一部 iPhone 四s", "不管三七二十一", "三点一四\r", "a\u2028b"]
    result = CliRunner().invoke(itn_command, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = result.stdout_bytes.decode("utf-8").split("\n")
    assert out[-1] == "" and len(out) - 1 == len(lines)
    assert out[:5] == ["13702", "", "这是一部 iPhone 4s", "不管三七二十一", "3.14\r"]


def test_cli_zh_tw_first():
    result = CliRunner().invoke(itn_command, ["--zh-tw"], input="软件卖了一万三千元\n")
    assert result.exit_code == 0
    assert result.output == "軟體賣了13000元\n"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet="零〇一二两兩三四五六七八九幺么十百千万萬亿億兆点點分之比到年月日号秒个克米 aA"
        "负負正的又半刻几幾洞拐壹贰貳叁參肆伍陆陸柒捌玖拾佰仟上午第钟“",
        max_size=14,
    )
)
def test_never_raises_and_leaves_no_placeholder(text):
    out = itn(text)
    assert not any(0xF0000 <= ord(c) <= 0xFFFFD for c in out)
    assert itn(text) == out  # deterministic
