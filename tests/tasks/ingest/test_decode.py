import codecs

import pytest

from docmill.tasks.ingest.decode import decode_bytes, looks_binary


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        ("café £300".encode(), "café £300", "utf-8"),
        (codecs.BOM_UTF8 + b"hi", "hi", "utf-8-sig"),
        ("héllo".encode("utf-16"), "héllo", "utf-16"),
        ("héllo".encode("utf-16-be").join([codecs.BOM_UTF16_BE, b""]), "héllo", "utf-16"),
        ("héllo".encode("utf-32"), "héllo", "utf-32"),
        (b"", "", "utf-8"),
    ],
)
def test_clean_text_decodes_without_note(data: bytes, text: str, encoding: str) -> None:
    assert decode_bytes(data) == (text, encoding, None)


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (b"caf\xe9 \xa3300", "café £300", "cp1252"),
        (b"caf\xe9", "café", "cp1252"),
        (b"price \x80 5, \x93quoted\x94", "price € 5, “quoted”", "cp1252"),
        ("Привет мир, как дела".encode("cp1251"), "Привет мир, как дела", "cp1251"),
        ("Zażółć gęślą jaźń".encode("cp1250"), "Zażółć gęślą jaźń", "cp1250"),
    ],
)
def test_legacy_encodings_are_guessed(data: bytes, text: str, encoding: str) -> None:
    assert decode_bytes(data)[:2] == (text, encoding)


def test_note_names_the_first_bad_byte_and_the_encoding_used() -> None:
    assert decode_bytes(b"caf\xe9 \xa3300")[2] == "invalid UTF-8 at byte 3; decoded as cp1252"


def test_declared_charset_is_used_when_utf8_fails() -> None:
    text, encoding, note = decode_bytes("Łódź".encode("cp1250"), declared="windows-1250")
    assert (text, encoding) == ("Łódź", "cp1250")
    assert note == "invalid UTF-8 at byte 0; decoded as declared charset cp1250"


@pytest.mark.parametrize("declared", ["iso-8859-1", "no-such-charset", ""])
def test_declared_latin1_or_unknown_falls_back(declared: str) -> None:
    # Browsers read latin-1 as windows-1252; an unknown label is ignored.
    assert decode_bytes(b"\x93hi\x94", declared=declared)[:2] == ("“hi”", "cp1252")


def test_declared_charset_does_not_override_valid_utf8() -> None:
    assert decode_bytes("café".encode(), declared="iso-8859-1") == ("café", "utf-8", None)


def test_truncated_utf8_keeps_the_good_part() -> None:
    text, encoding, note = decode_bytes("café €".encode()[:-1])
    assert (text, encoding) == ("café \ufffd", "utf-8")
    assert note is not None and note.startswith("truncated UTF-8")


def test_bad_utf16_is_replaced_not_raised() -> None:
    text, encoding, note = decode_bytes(codecs.BOM_UTF16_LE + b"h\x00i")
    assert (text, encoding) == ("h\ufffd", "utf-16")
    assert note is not None


@pytest.mark.parametrize(
    ("data", "binary"),
    [
        (b"plain text\nwith lines\ttabs\r\n", False),
        (b"", False),
        ("naïve café".encode(), False),
        ("text in utf-16".encode("utf-16"), False),
        ("text in utf-32".encode("utf-32"), False),
        (b"ab\x00cd", True),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", True),
        (b"\x01\x02\x03\x04 mostly controls \x05\x06\x07\x08\x0e\x0f", True),
        (b"one stray \x07 bell in a longer line of ordinary text", False),
        (b"x" * 9000 + b"\x00", False),  # only the first 8 KiB are sniffed
    ],
)
def test_looks_binary(data: bytes, binary: bool) -> None:
    assert looks_binary(data) is binary


# --- legacy encodings: cp1252 unless the evidence for another is strong ----------------------

_EN = (
    "The committee met on Tuesday to discuss the budget. Critics called the plan naïve, and "
    "one member said it was déjà vu. The café owners in the old town were not consulted. "
    "Officials from Zürich and São Paulo attended the meeting as observers.\n"
)


@pytest.mark.parametrize(
    "text",
    [
        "We met at the déjà in town. It was naïve indeed.",
        "A Noël idea.",
        "The über one\n",
        "Zoë, Björk and Ærø",
        "© 2024 été",
        _EN * 4,
        "Il governo ha approvato mercoledì una riforma delle pensioni. I sindacati hanno "
        "criticato duramente la decisione, giudicata affrettata. Il ministro ha dichiarato che "
        "è pronto a trattare con le parti sociali già la prossima settimana, perché la città "
        "lo chiede.",
    ],
)
def test_western_latin1_text_is_read_as_cp1252(text: str) -> None:
    assert decode_bytes(text.encode("latin-1"))[:2] == (text, "cp1252")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Ελληνικά κείμενα για δοκιμή", "cp1253"),
        (
            "Vláda ve středu schválila nový zákon o důchodech. Odbory rozhodnutí ostře "
            "kritizovaly a označily jej za unáhlené. Ministr prohlásil, že je připraven jednat "
            "se sociálními partnery již příští týden.",
            "cp1250",
        ),
        (
            "Vyriausybė trečiadienį priėmė naują pensijų įstatymą. Profesinės sąjungos griežtai "
            "kritikavo šį sprendimą, vadindamos jį skubotu. Ministras pareiškė, kad yra "
            "pasirengęs derėtis su socialiniais partneriais jau kitą savaitę.",
            "cp1257",
        ),
        (
            "Hükümet çarşamba günü emeklilik konusunda yeni bir yasa kabul etti. Sendikalar "
            "kararı sert bir şekilde eleştirdi ve aceleci olduğunu söyledi.",
            "cp1254",
        ),
    ],
)
def test_strong_evidence_still_picks_another_code_page(text: str, encoding: str) -> None:
    assert decode_bytes(text.encode(encoding))[:2] == (text, encoding)


# --- files mixing UTF-8 and legacy lines -----------------------------------------------------


def test_mixed_utf8_and_latin1_lines_are_decoded_line_by_line() -> None:
    data = "Le café\n".encode() + "était naïf\n".encode("latin-1") + "Zürich\n".encode()
    text, encoding, note = decode_bytes(data)
    assert text == "Le café\nétait naïf\nZürich\n"
    assert encoding == "utf-8+cp1252"
    assert note == "mixed encodings: 2 lines UTF-8, 1 line cp1252 (first at line 2)"


def test_a_legacy_file_with_ascii_lines_is_not_mixed() -> None:
    data = b"plain ascii\n" + "caf\xe9 cr\xe8me\n".encode("latin-1")
    assert decode_bytes(data)[:2] == ("plain ascii\ncafé crème\n", "cp1252")


# --- UTF-16 without a byte-order mark --------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_recognised_by_its_nul_bytes(codec: str) -> None:
    text = "Title\n\nA naïve café, £300.\n"
    data = text.encode(codec)
    assert not looks_binary(data)
    decoded, encoding, note = decode_bytes(data)
    assert (decoded, encoding) == (text, codec)
    assert note == f"no byte-order mark; {codec.upper()} recognised by its NUL bytes"


@pytest.mark.parametrize(
    "data",
    [
        bytes(b for n in range(200) for b in (n % 32, 0)),  # 16-bit integers, not text
        b"\x00\x00\x00\x01" * 100,
    ],
)
def test_nul_patterned_binary_stays_binary(data: bytes) -> None:
    assert looks_binary(data)
