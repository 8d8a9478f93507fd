"""Inverse text normalization (ITN) of Chinese numerals in ASR output.

Simplified and Traditional alike (万/萬, 亿/億, 两/兩, 点/點, 号/號, 幺/么, 负/負, 几/幾). The rules,
in the order they run (each later rule only sees text the earlier ones left alone):

1. idioms, fixed words and names that contain numerals are protected (一点一滴, 三七二十一,
   五四运动, 十三五, 一星半点...); a number next to 几 stays too (几十万, 十几万, 二十几万);
2. financial numerals (壹贰叁肆伍陆柒捌玖拾佰仟; 貳 叄 參 陸) are read as ordinary numerals
   when two or more of them make a number (伍拾壹点肆 -> 51.4); radio-style digit strings with
   幺 洞 拐 两 -> digits (幺八五洞幺拐两零柒幺玖 -> 18501720719);
3. 负/負 (and 正负 ±) before a number marks it negative (负十点五 -> -10.5), unless it is
   part of a word (欺负, 胜负) or a verb before a count of games (负一场);
4. clock times: ``H点M分[S秒]`` -> ``HH:MM[:SS]`` (minutes need 零X or a 十 unless seconds
   follow: 三点五分 stays a decimal); ``H点N刻`` -> ``H点N刻``; ``H点半`` -> ``H:30``;
   ``H点MM`` without 分 (MM with a 十) -> ``H:MM``;
5. mixed numbers ``W又X分之Y`` -> ``W又Y/X``; ``百分之X`` / ``百分X`` -> ``X%``; ``X分之Y`` ->
   ``Y/X`` (十分之一 -> 1/10, 一百分之一 -> 1/100); scores ``X比Y`` -> ``X:Y``;
6. dates: ``Y年M月[D日]`` / ``M月D日`` -> digits; a year spelled digit by digit (一九一九年) -> 1919年;
   spans ``X到Y`` / ``X至Y`` keep the spoken connector and convert both ends together
   (三到五十 -> 3到50), unless both ends are single characters (三到五个 stays);
7. every other maximal run of numeral characters is read as a whole, or left as it is:
   digit strings of 3+ digits (phone numbers) -> digits; anything next to a Latin letter or
   digit (iPhone 四s, 皖C九B三四E) -> digits; consecutive cardinals (十五十六十七) -> ``15 16 17``;
   decimals (三点一四 -> 3.14, 二十点一万 -> 20.1万); dotted digit groups -> ``127.0.0.1``;
   approximate ranges (三四千 -> 3000~4000, 十七八万 -> 17~18万, 一百六七 -> 160~170,
   十五六千瓦时 -> 15~16千瓦时); cardinals (一万零七十六 -> 10076, 一千一百十 -> 1110; a number
   that ends in 万/亿 keeps it: 五千万 -> 5000万; one with 兆 keeps all its big units:
   一兆零三百万两千三百 -> 1兆300万2300).
   A single numeral character stays as it is (一个, 一半, 一双鞋, 三星) unless 负 precedes it,
   and so does a bare pair with no unit (七八个, 乱七八糟) and a two-digit string (五四).

Units: mass and speed get symbols after a number (克 g, 千克 kg, 毫克 mg, 千米每小时 km/h);
length, money and all other measure words stay Chinese (米, 毫米, 元, 块). ``一千克`` is
ambiguous (1000 g or 1 kg) and stays as spoken.
"""

from __future__ import annotations

import functools
import re

ZEROS = "零〇○"
DIGIT_VALUE = {
    "零": 0,
    "〇": 0,
    "○": 0,
    "一": 1,
    "幺": 1,
    "么": 1,
    "二": 2,
    "两": 2,
    "兩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
# digits of a cardinal number (幺/么 only ever appear in digit strings)
CARD_DIGITS = "零〇○一二两兩三四五六七八九"
# digits of a digit string (phone numbers, years); 两 is never read digit by digit
STRING_DIGITS = "零〇○一幺么二三四五六七八九"
TWO = "两兩"
SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
BIG_UNITS = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8, "兆": 10**12}
POINTS = "点點"
# financial numerals (大写数字), Simplified and Traditional, and their ordinary reading
FINANCIAL = {
    "壹": "一",
    "贰": "二",
    "貳": "二",
    "叁": "三",
    "叄": "三",
    "參": "三",
    "肆": "四",
    "伍": "五",
    "陆": "六",
    "陸": "六",
    "柒": "七",
    "捌": "八",
    "玖": "九",
    "拾": "十",
    "佰": "百",
    "仟": "千",
}
FIN_DIGITS = "".join(c for c, v in FINANCIAL.items() if v not in SMALL_UNITS)
# radio-style digits (幺 1, 洞 0, 拐 7, 两 2): digits only inside a digit string that says so
RADIO_VALUE = {"洞": 0, "拐": 7}
RADIO_MARKS = "幺么洞拐"
FEW = "几幾"  # 几十万, 十几万: approximate words, kept in characters
NEGATIVE = "负負"
# 负 after these is part of a word (欺负, 胜负, 抱负, 减负, 不负...), not a minus sign
NEG_WORD_BEFORE = "欺辜胜勝抱自担擔肩背身减減不重"
# 负一场, 负两球: 负 is the verb "lose", the number counts games
NEG_COUNTS = "场場局盘盤球仗届屆个個"
# measure words after which H点MM / H点半 is a count, not a clock time (三点十五个理由)
COUNTED = "个個位名人块塊元米岁歲年月日天号號次件条條张張本只隻种種项項家所台辆輛斤克吨噸度倍层層页頁篇期届屆场場回把杯碗瓶部集章节節票万萬亿億"

NUM = "".join(DIGIT_VALUE) + "".join(SMALL_UNITS) + "".join(BIG_UNITS)  # numeral chars, no point
RUN_CHARS = NUM + POINTS
_N_ = RUN_CHARS  # for character classes that add to it
_N = f"[{RUN_CHARS}]"
_NP = f"[{NUM}]"

# Idioms and words a reader keeps in characters. Written in Simplified; the Traditional
# spellings are added at import time with OpenCC when it is installed.
IDIOMS = """
一点一滴 三七二十一 一五一十 五四运动 三三两两 七七八八 乱七八糟 七上八下 十全十美 十之八九
一心一意 三心二意 四面八方 五湖四海 千千万万 万万 一一 九九归一 二百五 十万火急 一干二净 一清二楚
一模一样 一言一行 一举一动 独一无二 数一数二 三番五次 三番两次 三言两语 四分五裂 五花八门 七嘴八舌
八九不离十 九死一生 一石二鸟 千方百计 百发百中 千军万马 万无一失 一五一十 接二连三 一二三四五六七
不三不四 三五成群 三长两短 六神无主 七零八落 一丝一毫 一朝一夕 一草一木 一时半刻 百分百 十有八九
五十步笑百步 一千零一夜 九九八十一 九牛一毛 一针一线 一问一答 一分一秒 一分为二 合二为一 二一添作五 十字路口
一星半点 一点半点
十一五 十二五 十三五 十五五
""".split()
# 十四五 is the 14th five-year plan before these words, and a range (十四五岁 -> 14~15岁) otherwise
PLAN_14 = "十四五"
PLAN_FOLLOWERS = "规划 規劃 计划 計劃 时期 時期 期间 期間 以来 以來 开局 開局 末 初 ” 」 \" '".split()
# 十分 ("very") is kept unless a time or a bigger number around it says otherwise
WORDS_KEPT = ["十分"]
# what 十分 "very" goes before (adjectives, feelings, modal verbs), Simplified and
# Traditional: after one of these, H点十分 is "H point(s) very …", not H:10
VERY_BEFORE = tuple(
    "重要 必要 关键 關鍵 明显 明顯 清楚 严重 嚴重 危险 危險 复杂 複雜 困难 困難 简单 簡單 满意 滿意 "
    "感谢 感謝 高兴 高興 重视 重視 注意 小心 可能 需要 担心 擔心 喜欢 喜歡 激动 激動 精彩 优秀 優秀 "
    "出色 普遍 顺利 順利 辛苦 抱歉 荣幸 榮幸 有限 有趣 有用 有效 方便 稳定 穩定 值得 难得 難得 "
    "合理 正确 正確 准确 準確 突出 特别 特別 容易 敏感 关注 關注 强调 強調 肯定 确定 確定".split()
)

UNIT_SYMBOLS = [  # (spoken unit after a number, symbol) — longest first
    ("千米每小时", "km/h"),
    ("千米每小時", "km/h"),
    ("公里每小时", "km/h"),
    ("公里每小時", "km/h"),
    ("千克", "kg"),
    ("毫克", "mg"),
    ("克", "g"),
]
KILO_FOLLOWERS = "米克瓦卡"  # 千 directly before these may be the prefix kilo-


# ---------------------------------------------------------------- numbers


def _parse_section(s: str, before_big: bool = False) -> int | None:
    """Value of a cardinal below 10000 (一千零一十一, 十二, 三千五), or None if not one."""
    if not s:
        return None
    val, prev_unit, digit, digit_ch, zero, zero_before = 0, 10**4, None, "", False, False
    for ch in s:
        if ch in ZEROS:
            if digit is not None or zero or val == 0:
                return None
            zero = True
        elif ch in CARD_DIGITS:
            if digit is not None:
                return None
            digit, digit_ch, zero_before, zero = DIGIT_VALUE[ch], ch, zero, False
        elif ch in SMALL_UNITS:
            unit = SMALL_UNITS[ch]
            if unit >= prev_unit:
                return None
            if digit is None:
                if ch != "十" or (val and not zero and prev_unit != 100):
                    return None  # 百/千 need a coefficient; 十 alone leads (十二), or follows
                digit = 1  # 零 (零十二) or 百 (一百十 = 110)
            elif digit_ch in TWO and ch == "十":
                return None
            val += digit * unit
            prev_unit, digit, digit_ch, zero = unit, None, "", False
        else:
            return None
    if zero:
        return None
    if digit is not None:
        if digit_ch in TWO and not (before_big and val == 0):
            return None  # 两 alone is a measure word (三十两), not a digit
        if val == 0 or zero_before or prev_unit == 10:
            val += digit
        else:  # abbreviated: 三千五 = 3500, 一百五 = 150
            val += digit * prev_unit // 10
    return val


def parse_int(s: str, before_big: bool = False) -> int | None:
    """Value of a Chinese cardinal (一百万一千一百一十一, 七千九百零三亿, 一万二), or None."""
    for chars, mult in (("兆", 10**12), ("亿億", 10**8), ("万萬", 10**4)):
        idx = max(s.rfind(c) for c in chars)
        if idx < 0:
            continue
        head, tail = s[:idx], s[idx + 1 :]
        h = parse_int(head, True) if mult > 10**4 else _parse_section(head, True)
        if not h:
            return None
        if not tail:
            return h * mult
        if len(tail) == 1 and tail in CARD_DIGITS and tail not in ZEROS:
            return h * mult + DIGIT_VALUE[tail] * mult // 10  # 一万二 = 12000
        if tail[0] in ZEROS:
            tail = tail[1:]
        t = parse_int(tail)
        if t is None or t >= mult:
            return None
        return h * mult + t
    return _parse_section(s, before_big)


_BIG_ORDER = {"兆": 3, "亿": 2, "億": 2, "万": 1, "萬": 1}


def _format_with_big_units(s: str) -> str | None:
    """A number with 兆 keeps every big unit: 一兆零三百万两千三百 -> 1兆300万2300."""
    parts = re.split("([兆亿億万萬])", s)
    pieces, units = parts[0::2], parts[1::2]
    order = [_BIG_ORDER[u] for u in units]
    if not pieces[0] or order != sorted(set(order), reverse=True):
        return None
    out = []
    for i, (piece, unit) in enumerate(zip(pieces, units, strict=False)):
        body = piece[1:] if i and piece[:1] in ZEROS else piece
        if not body:
            if i == 0:
                return None
            continue  # 一兆亿 is no number, but 一兆零 ... 万 may skip a unit
        v = _parse_section(body, True)
        if not v:
            return None
        out.append(f"{v}{unit}")
    last = pieces[-1]
    if last:
        body = last[1:] if last[0] in ZEROS else last
        if len(body) == 1 and last[0] not in ZEROS:
            return None  # 一兆三 (1.3兆?) stays as spoken
        v = _parse_section(body)
        if v is None:
            return None
        out.append(str(v))
    return "".join(out)


def format_int(s: str) -> str | None:
    """Digits for a cardinal; one that ends in 万/亿 keeps that unit (五千万 -> 5000万); one with
    兆 keeps all its big units (一兆零三百万 -> 1兆300万)."""
    if "兆" in s:
        return _format_with_big_units(s)
    if s and s[-1] in BIG_UNITS:
        head = s[:-1]
        if s[-1] in "万萬":
            idx = max(head.rfind(c) for c in "亿億")
            if idx >= 0:  # 三亿五千万 -> 3亿5000万
                a, b = parse_int(head[:idx], True), _parse_section(head[idx + 1 :].lstrip(ZEROS), True)
                if a and b:
                    return f"{a}{head[idx]}{b}{s[-1]}"
                return None
        v = parse_int(head, True)
        return None if not v else f"{v}{s[-1]}"
    v = parse_int(s)
    return None if v is None else str(v)


def _digits(s: str) -> str:
    return "".join(str(DIGIT_VALUE[c]) for c in s)


def _is_digit_string(s: str) -> bool:
    return bool(s) and all(c in STRING_DIGITS for c in s)


def format_decimal(s: str) -> str | None:
    """三点一四 -> 3.14, 零点七零 -> 0.70, 二十点一万 -> 20.1万, 一万点一二三 -> 10000.123."""
    if sum(s.count(p) for p in POINTS) != 1:
        return None
    idx = max(s.find(p) for p in POINTS)
    whole, frac = s[:idx], s[idx + 1 :]
    suffix = ""
    if frac and frac[-1] in BIG_UNITS:
        frac, suffix = frac[:-1], frac[-1]
    if not frac or not all(c in STRING_DIGITS and c not in "幺么" for c in frac):
        return None
    w = 0 if whole in tuple(ZEROS) else 2 if whole in tuple(TWO) else parse_int(whole)
    if w is None:
        return None
    return f"{w}.{_digits(frac)}{suffix}"


def format_number(s: str) -> str | None:
    """A cardinal or a decimal, any length (used where the context says it is a number)."""
    if any(p in s for p in POINTS):
        return format_decimal(s)
    if s in TWO:
        return "2"
    return format_int(s)


def _range(run: str) -> str | None:
    """Approximate ranges: 三四千 -> 3000~4000, 十七八万 -> 17~18万, 一百六七 -> 160~170."""
    for i in range(len(run) - 1):
        a, b = run[i], run[i + 1]
        if a not in CARD_DIGITS or b not in CARD_DIGITS or a in ZEROS or b in ZEROS:
            continue
        lo_d, hi_d = DIGIT_VALUE[a], DIGIT_VALUE[b]
        if not 0 < hi_d - lo_d <= 2:
            continue
        m = re.fullmatch(r"([十百千]?)([万萬亿億兆]?)", run[i + 2 :])
        if not m:
            continue
        small, big = m.groups()
        prefix = run[:i]
        if prefix:
            last = prefix[-1]
            implied = {"十": 1, "百": 10, "千": 100, "万": 1000, "萬": 1000, "亿": 10**7, "億": 10**7}
            if last not in implied:
                continue
            base = parse_int(prefix, True)
            if base is None:
                continue
            pos = SMALL_UNITS[small] if small else implied[last]
            unit_of_last = SMALL_UNITS.get(last) or BIG_UNITS[last]
            if pos >= unit_of_last or (big and last in BIG_UNITS):
                continue
            lo, hi = base + lo_d * pos, base + hi_d * pos
        else:
            if not small and not big:
                continue  # a bare pair (七八个, 乱七八糟) stays
            pos = SMALL_UNITS[small] if small else 1
            lo, hi = lo_d * pos, hi_d * pos
        return f"{lo}~{hi}{big}"
    return None


def _sequence(run: str) -> list[int] | None:
    """Consecutive cardinals spoken in a row: 十五十六十七 -> [15, 16, 17]."""

    def rec(pos: int, prev: int | None) -> list[int] | None:
        if pos == len(run):
            return []
        for end in range(len(run), pos, -1):
            piece = run[pos:end]
            if not any(c in SMALL_UNITS for c in piece):
                continue
            v = parse_int(piece)
            if v is None or (prev is not None and v != prev + 1):
                continue
            rest = rec(end, v)
            if rest is not None:
                return [v] + rest
        return None

    found = rec(0, None)
    return found if found and len(found) >= 2 else None


def _latin(ch: str) -> bool:
    return bool(ch) and ch.isascii() and ch.isalnum()


def _unit_symbol(after: str) -> tuple[str, int]:
    for spoken, symbol in UNIT_SYMBOLS:
        if after.startswith(spoken) and not after[len(spoken) :].startswith("拉"):  # 克拉: carat
            return symbol, len(spoken)
    return "", 0


def convert_run(run: str, prev: str, after: str, negative: bool = False) -> tuple[str, int] | None:
    """Read one maximal run of numeral characters. Returns (replacement, how many characters
    of ``after`` it used up), or None to leave the run as it is. ``negative``: 负 precedes it,
    so even a single numeral character is a number (负一 -> -1)."""
    if (prev and prev in FEW) or (after[:1] and after[:1] in FEW):
        return None  # 几十万, 二十几万: an approximate word, kept in characters
    if negative and len(run) == 1 and run in CARD_DIGITS + "十" and run not in TWO:
        return ("10" if run == "十" else str(DIGIT_VALUE[run])), 0
    if (_latin(prev) or _latin(after[:1])) and _is_digit_string(run):
        return _digits(run), 0
    # 千 directly before 米/克: the kilo- prefix when 千 cannot belong to the number
    if run.endswith("千") and after[:1] and after[:1] in KILO_FOLLOWERS and len(run) > 1:
        rest = run[:-1]
        if parse_int(run) is None:
            r = _range(rest + "十")  # a bare pair: 三四千米 -> 3~4千米
            if r is not None and r.endswith("0") and len(rest) == 2 and rest[0] in CARD_DIGITS:
                return f"{DIGIT_VALUE[rest[0]]}~{DIGIT_VALUE[rest[1]]}千", 0
            value = format_number(rest) or _range(rest)  # 十五六千瓦时 -> 15~16千瓦时
            if value is None:
                return None
            symbol, used = _unit_symbol("千" + after)
            return (value + symbol, used - 1) if symbol else (value + "千", 0)
        if len(rest) == 1:
            return None  # 一千克: 1000 g or 1 kg? leave it as spoken
    seq = _sequence(run)
    if seq:
        return " ".join(map(str, seq)), 0
    points = sum(run.count(p) for p in POINTS)
    if points >= 2:
        parts = re.split(f"[{POINTS}]", run)
        if len(parts) >= 3 and all(_is_digit_string(p) for p in parts):
            return ".".join(_digits(p) for p in parts), 0
        return None
    if len(run) == 1 and run in CARD_DIGITS:
        symbol, used = _unit_symbol(after)  # 五克 -> 5g, 两克 -> 2g; 一个 stays
        return (str(DIGIT_VALUE[run]) + symbol, used) if symbol else None
    if _is_digit_string(run):
        return (_digits(run), 0) if len(run) >= 3 else None
    if points == 1:
        value = format_decimal(run)
        if value is None and run[-1] in POINTS:  # 十二点 (o'clock): the number, then 点
            value = format_int(run[:-1]) if len(run) > 2 else None
            return (value + run[-1], 0) if value else None
        if value is None:
            return None
        symbol, used = _unit_symbol(after)
        return value + symbol, used
    r = _range(run)
    if r is not None:
        return r, 0
    value = format_int(run)
    if value is None and len(run) > 2 and run[-1] in TWO:  # 三十两 -> 30两
        value = format_int(run[:-1])
        return (value + run[-1], 0) if value else None
    if value is None:
        return None
    symbol, used = _unit_symbol(after)
    if len(run) == 1 and not symbol:
        return None  # 一个, 十足: a lone numeral character stays
    return value + symbol, used


# ---------------------------------------------------------------- the passes


class _Masks:
    """Replace finished pieces by private-use characters so later passes leave them alone."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def put(self, text: str) -> str:
        self.values.append(text)
        return chr(0xF0000 + len(self.values) - 1)  # supplementary private use area

    def restore(self, text: str) -> str:
        return re.sub("[\U000f0000-\U000ffffd]", lambda m: self.values[ord(m.group()) - 0xF0000], text)


def _minutes(s: str, bare: bool = False) -> int | None:
    """Minutes or seconds of a clock time: 零五, 十, 二十一. A bare 五 is enough only where the
    context says it is a time (``bare``: seconds follow, or these are the seconds)."""
    v: int | None
    if len(s) == 2 and s[0] in ZEROS and s[1] in CARD_DIGITS:
        v = DIGIT_VALUE[s[1]]
    elif "十" in s:
        v = parse_int(s)
    elif bare and len(s) == 1 and s in DIGIT_VALUE and s not in "幺么":
        v = DIGIT_VALUE[s]
    else:
        return None
    return v if v is not None and 0 <= v <= 59 else None


def _hour(s: str) -> int | None:
    if s in tuple(ZEROS):
        return 0
    if s in TWO:
        return 2
    v = parse_int(s)
    return v if v is not None and 0 <= v <= 24 else None


def _year(s: str) -> str | None:
    if _is_digit_string(s) and 2 <= len(s) <= 4:
        if len(s) == 2 and s[0] not in ZEROS and 0 < DIGIT_VALUE[s[1]] - DIGIT_VALUE[s[0]] <= 2:
            return None  # 三五年, 三四年: a span of years, not '35
        return _digits(s)
    v = parse_int(s)
    return None if v is None else str(v)


def _card(s: str, lo: int, hi: int) -> int | None:
    v = 2 if s in TWO else parse_int(s)
    return v if v is not None and lo <= v <= hi else None


@functools.lru_cache(maxsize=1)
def _idiom_regex() -> re.Pattern:
    words = set(IDIOMS) | set(WORDS_KEPT)
    try:
        import opencc  # lazy: seconds to load; `orch run --help` imports this module (run.plan_inputs)

        for cfg in ("s2t", "s2tw"):
            conv = opencc.OpenCC(cfg)
            words |= {conv.convert(w) for w in words}
    except Exception:  # noqa: BLE001 — Traditional idioms are a nicety, not a requirement
        pass
    alts = []
    for w in sorted(words, key=len, reverse=True):
        before = f"(?<!{_N})" if w[0] in RUN_CHARS else ""
        after = f"(?!{_N})" if w[-1] in RUN_CHARS else ""
        if w in WORDS_KEPT:
            after += "(?!之)"  # 十分 "very", but 十分之一 is a fraction
        alts.append(before + re.escape(w) + after)
    plan = "|".join(re.escape(f) for f in PLAN_FOLLOWERS)
    alts.append(f"(?<!{_N}){PLAN_14}(?={plan})")
    alts.append("伍佰(?![元圆圓块塊万萬亿億零〇点點" + "".join(FINANCIAL) + "])")  # the singer
    return re.compile("|".join(alts))


_FIN_CHARS = "".join(FINANCIAL) + ZEROS + "万萬亿億兆" + POINTS
_FIN_TABLE = str.maketrans(FINANCIAL)
_FIN_RUN = re.compile(f"[{_FIN_CHARS}]+")
_ANY_N = f"[{RUN_CHARS}{''.join(FINANCIAL)}{''.join(RADIO_VALUE)}]"
_RADIO_CHARS = STRING_DIGITS + TWO + "".join(RADIO_VALUE) + FIN_DIGITS
_RADIO = re.compile(f"(?<!{_ANY_N})[{_RADIO_CHARS}]{{3,}}(?!{_ANY_N})")
_NEG = re.compile(f"(?<![{NEG_WORD_BEFORE}])(正)?([{NEGATIVE}])(的)?(?={_N})")
_NEG_TARGET = re.compile(f"({_N}+)(分之{_N}+)?")
_TIME = re.compile(f"(?<![{_N_}第这這那])({_NP}+)[{POINTS}]({_NP}+)分(?![钟鐘])(?:({_NP}+)秒)?")
_QUARTER = re.compile(f"(?<![{_N_}第这這那])({_NP}+)([{POINTS}])([一二三])刻")
_HALF = re.compile(f"(?<![{_N_}第这這那])({_NP}+)[{POINTS}]半(?![{POINTS}途钟鐘{COUNTED}])")
_HHMM = re.compile(f"(?<![{_N_}第这這那])({_NP}+)[{POINTS}]({_NP}+)(?![{RUN_CHARS}分秒刻{COUNTED}])")
# after a part of the day, H点M is a clock time even with 零X minutes (下午三点零五 -> 下午3:05)
DAYPARTS = "早上 上午 中午 下午 晚上 凌晨 傍晚 早晨 夜里 夜裡 清晨 今早 今晚 明早 明晚".split()
_DAYPART_HHMM = re.compile(f"(?<={'|'.join(DAYPARTS)})({_NP}+)[{POINTS}]({_NP}+)(?![{RUN_CHARS}分秒刻{COUNTED}])")
_MIXED = re.compile(f"(?<!{_N})({_NP}+)又({_NP}+)分之({_NP}+)(?!{_N})")
_PERCENT = re.compile(f"(?<!{_N})百分之({_N}+)")
_PERCENT_BARE = re.compile(f"(?<!{_N})百分({_N}+)")
_FRACTION = re.compile(f"(?<!{_N})({_NP}+)分之({_NP}+)(?!{_N})")
_SCORE = re.compile(f"(?<!{_N})({_NP}+)比({_NP}+)(?!{_N})")
_SPAN = re.compile(f"(?<!{_N})({_N}+)([到至])({_N}+)(?!{_N})")
_DATE = re.compile(f"(?<!{_N})(?:({_NP}+)年)?({_NP}+)月(?:({_NP}+)([日号號]))?")
_YEAR = re.compile(f"(?<!{_N})([{STRING_DIGITS}]{{2,4}})(?=年)")
_RUN = re.compile(f"{_N}+")
_TRIGGER = set(RUN_CHARS) | set(FINANCIAL) | set(RADIO_VALUE)


def _reads_as_number(t: str) -> bool:
    """Whether a run of (translated) numerals is a number, a decimal, a digit string of 3+
    digits or a clock time's H点MM — so that financial numerals are only read where the
    ordinary ones would be (伍拾 yes; 陆陆续续, 队伍, 收拾 no)."""
    parts = re.split(f"[{POINTS}]", t)
    if len(parts) == 1:
        return format_int(t) is not None or (_is_digit_string(t) and len(t) >= 3) or _range(t) is not None
    if not all(parts[:-1]) or len(parts) > 4:
        return False
    return all(format_int(p) is not None or _is_digit_string(p) for p in parts if p)


def _radio(s: str) -> str | None:
    """幺八五洞幺拐两零柒幺玖 -> 18501720719: 幺 洞 拐 两 and financial digits as digits, in a
    string that is plainly one (4+ characters with a 幺/洞/拐, or 3 with two of them); a 拐
    that starts it or a 洞 that ends it (拐两三, 三四洞) needs another such mark."""
    if not any(c in TWO or c in RADIO_VALUE or c in FIN_DIGITS for c in s):
        return None  # plain digit strings are read by the run rule
    marks = sum(c in RADIO_MARKS for c in s)
    edge = (s[0] == "拐") + (s[-1] == "洞")
    if marks - edge < 1 or (len(s) == 3 and marks < 2):
        return None
    out = []
    for c in s:
        c = FINANCIAL.get(c, c)
        out.append(str(RADIO_VALUE[c]) if c in RADIO_VALUE else "2" if c in TWO else str(DIGIT_VALUE[c]))
    return "".join(out)


def itn(text: str) -> str:
    """Chinese numerals in ``text`` written as digits where a reader expects digits."""
    if not text or not any(c in _TRIGGER for c in text):
        return text
    r = _Rewriter()
    text = _idiom_regex().sub(lambda m: r.masks.put(m.group()), text)
    text = r.apply_signs(r.read_runs(r.apply_rules(text)))
    return r.masks.restore(text)


class _Rewriter:
    """One call's state: what has been masked (so later rules leave it alone) and the masks
    of 负 / 正负 (minus signs once what follows has become digits)."""

    def __init__(self):
        self.masks = _Masks()
        self.signs: dict[str, str] = {}  # mask of a 负 / 正负 -> "-" / "±"

    def financial(self, m: re.Match) -> str:
        s = m.group()
        if sum(c in FINANCIAL for c in s) < 2:
            return s
        t = s.translate(_FIN_TABLE)
        return t if _reads_as_number(t) else s

    def radio(self, m: re.Match) -> str:
        got = _radio(m.group())
        return m.group() if got is None else self.masks.put(got)

    def negative(self, m: re.Match) -> str:
        text = m.string
        target = _NEG_TARGET.match(text, m.end())
        if target is None:  # _NEG only matches where _NEG_TARGET does; kept as it is otherwise
            return m.group()
        run = target.group(1)
        follows = text[target.end() : target.end() + 1]
        if (follows and follows in NEG_COUNTS + FEW) or run in TWO:
            return m.group()  # 负一场 (lost one game), 负几十, 正负两个方向
        if m.group(3) and not (run.startswith("百分") or any(p in run for p in POINTS) or target.group(2)):
            return m.group()  # 负的 only before a percentage, a decimal or a fraction
        mark = self.masks.put(m.group())
        self.signs[mark] = "±" if m.group(1) else "-"
        return mark

    def time(self, m: re.Match) -> str:
        if m.group(2) == "十" and not m.group(3) and m.string.startswith(VERY_BEFORE, m.end()):
            return m.group()  # 一点十分重要: "one point is very important", not 01:10
        h, mi = _hour(m.group(1)), _minutes(m.group(2), bare=bool(m.group(3)))
        sec = _minutes(m.group(3), bare=True) if m.group(3) else None
        if h is None or mi is None or (m.group(3) and sec is None):
            return m.group()
        out = f"{h:02d}:{mi:02d}" + (f":{sec:02d}" if sec is not None else "")
        return self.masks.put(out)

    def quarter(self, m: re.Match) -> str:
        h = _hour(m.group(1))
        return m.group() if h is None else self.masks.put(f"{h}{m.group(2)}{DIGIT_VALUE[m.group(3)]}刻")

    def half(self, m: re.Match) -> str:
        h = _hour(m.group(1))
        return m.group() if h is None or h > 23 else self.masks.put(f"{h}:30")

    def hhmm(self, m: re.Match, daypart: bool = False) -> str:
        h, mm = _hour(m.group(1)), m.group(2)
        # 八点零五 stays a decimal (8.05), unless 上午/下午... says it is a time
        mi = _minutes(mm) if "十" in mm or (daypart and mm[0] in ZEROS) else None
        if h is None or h > 23 or mi is None:
            return m.group()
        return self.masks.put(f"{h}:{mi:02d}")

    def mixed(self, m: re.Match) -> str:
        whole = _card(m.group(1), 0, 10**12)
        den_s = m.group(2)
        den = SMALL_UNITS[den_s] if den_s in SMALL_UNITS else _card(den_s, 1, 10**12)
        num = _card(m.group(3), 0, 10**12)
        if whole is None or den is None or num is None:
            return m.group()
        return self.masks.put(f"{whole}又{num}/{den}")

    def percent(self, m: re.Match) -> str:
        n = "100" if m.group(1) == "百" else format_number(m.group(1))
        return m.group() if n is None else self.masks.put(n + "%")

    def fraction(self, m: re.Match) -> str:
        den, num = _card(m.group(1), 1, 10**12), _card(m.group(2), 0, 10**12)
        return m.group() if den is None or num is None else self.masks.put(f"{num}/{den}")

    def score(self, m: re.Match) -> str:
        a, b = _card(m.group(1), 0, 10**6), _card(m.group(2), 0, 10**6)
        return m.group() if a is None or b is None else self.masks.put(f"{a}:{b}")

    def date(self, m: re.Match) -> str:
        y, mo, d, day_word = m.groups()
        if y is None and d is None:
            return m.group()
        year = _year(y) if y else ""
        month = _card(mo, 1, 12)
        day = _card(d, 1, 31) if d else None
        if year is None or month is None or (d and day is None):
            return m.group()
        out = (f"{year}年" if y else "") + f"{month}月" + (f"{day}{day_word}" if d else "")
        return self.masks.put(out)

    def span(self, m: re.Match) -> str:
        a, b = m.group(1), m.group(3)
        before = m.string[m.start() - 1 : m.start()]
        if len(a) == 1 and len(b) == 1 and before not in self.signs:
            return m.group()  # 三到五个: small numbers stay, as a lone 三 does (负三到三: not)
        if m.string[m.end() : m.end() + 1] in tuple(FEW):
            return self.masks.put(m.group())  # 三十到四十几: the whole span stays
        x, y = format_number(a), format_number(b)
        if x is None or y is None:
            return m.group()
        return self.masks.put(f"{x}{m.group(2)}{y}")

    def apply_rules(self, text: str) -> str:
        """The rules that need context (names, signs, times, fractions, dates...), in order."""
        if any(c in FINANCIAL for c in text):
            text = _FIN_RUN.sub(self.financial, text)
        text = _RADIO.sub(self.radio, text)
        if any(c in NEGATIVE for c in text):
            text = _NEG.sub(self.negative, text)
        text = _TIME.sub(self.time, text)
        if any(p in text for p in POINTS):
            text = _QUARTER.sub(self.quarter, text)
            text = _HALF.sub(self.half, text)
            text = _DAYPART_HHMM.sub(lambda m: self.hhmm(m, daypart=True), text)
            text = _HHMM.sub(self.hhmm, text)
        text = _MIXED.sub(self.mixed, text)
        text = _PERCENT.sub(self.percent, text)
        text = _PERCENT_BARE.sub(self.percent, text)
        text = _FRACTION.sub(self.fraction, text)
        text = _SCORE.sub(self.score, text)
        text = _DATE.sub(self.date, text)
        text = _SPAN.sub(self.span, text)
        text = _YEAR.sub(lambda m: self.masks.put(y) if (y := _year(m.group(1))) else m.group(), text)
        return text

    def read_runs(self, text: str) -> str:
        """Every remaining run of numerals, read as a number where it is one."""
        out, pos = [], 0
        for m in _RUN.finditer(text):
            if m.start() < pos:
                continue
            out.append(text[pos : m.start()])
            prev = text[m.start() - 1] if m.start() else ""
            got = convert_run(m.group(), prev, text[m.end() : m.end() + 8], negative=prev in self.signs)
            if got and prev in self.signs and "~" in got[0]:  # 负三四千: both ends are negative
                got = (got[0].replace("~", "~" + self.signs[prev].replace("±", "")), got[1])
            if got is None:
                out.append(m.group())
                pos = m.end()
            else:
                out.append(got[0])
                pos = m.end() + got[1]
        out.append(text[pos:])
        return "".join(out)

    def apply_signs(self, text: str) -> str:
        """A 负 before what became digits is a minus sign; before anything else, a word."""
        if self.signs:

            def sign(m: re.Match) -> str:
                nxt = m.group(2)
                value = self.masks.values[ord(nxt) - 0xF0000] if nxt not in "0123456789" else nxt
                return self.signs[m.group(1)] + nxt if value[:1].isdigit() else m.group()

            text = re.sub(f"([{''.join(self.signs)}])([0-9\\U000F0000-\\U000FFFFD])", sign, text)
        return text
