"""Ingest never guesses (issue 8.1): ragged rows, mixed encodings, content-detected kinds,
long headers, CR-only line ends, invalid formats; a fuzz test that no input gives a
traceback and rows in = accepted + rejected always."""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile

import polars as pl
import pytest
from conftest import UNIT_HEADER, examples, unit_row, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_analytics import IngestError, ProfileError, Store, ingest, load_profile
from dispatch_analytics.ingest.normalize import normalize_chunk
from dispatch_analytics.ingest.profiles import parse_profile
from dispatch_analytics.io.detect import sniff
from dispatch_analytics.io.sources import SourceFile


def _csv_bytes(rows, header=UNIT_HEADER, encoding="utf-8") -> bytes:
    buf = io.StringIO()
    import csv

    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def _rejects(data_dir):
    return Store(data_dir).sql("select * from rejects order by source_row")


# ---------------------------------------------------------------- ragged rows
def test_truncated_row_is_malformed_and_the_rest_goes_on(tmp_path, data_dir, unit_toml):
    good = [unit_row(inc=str(i)) for i in range(5)]
    lines = _csv_bytes(good).decode().splitlines()
    lines[3] = ",".join(lines[3].split(",")[:4])  # data row 3 cut to 4 of 11 fields
    lines.append(",".join(unit_row(inc="X")) + ",extra")  # one field too many
    path = tmp_path / "x.csv"
    path.write_text("\n".join(lines) + "\n")
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_read == 6 == report.rows_accepted + report.rows_rejected
    assert report.rows_accepted == 4
    rej = _rejects(data_dir)
    assert rej["reason"].to_list() == ["malformed_row", "malformed_row"]
    assert rej["source_row"].to_list() == [3, 6]
    assert rej["detail"][0] == "row has 4 fields, the header has 11"
    assert rej["detail"][1] == "row has 12 fields, the header has 11"
    assert rej["value"][0] == lines[3]
    assert json.loads(rej["raw_row"][0]) == {"raw_text": lines[3]}


def test_short_row_in_a_big_file_mid_block(tmp_path, data_dir, unit_toml):
    rows = [unit_row(inc=str(i)) for i in range(3000)]
    text = _csv_bytes(rows).decode().splitlines()
    text[1500] = text[1500].rsplit(",", 3)[0]
    path = tmp_path / "x.csv"
    path.write_text("\n".join(text) + "\n")
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir, chunk_rows=500)
    assert report.rows_read == 3000
    assert report.rejects_by_reason == {"malformed_row": 1}
    assert _rejects(data_dir)["source_row"].to_list() == [1500]


# ---------------------------------------------------------------- encodings
def test_one_cp1252_byte_in_utf8_keeps_utf8(tmp_path, data_dir, unit_toml):
    rows = [unit_row(inc=str(i), nature="CAFÉ") for i in range(4)]
    data = bytearray(_csv_bytes(rows))
    bad_row = (
        _csv_bytes([unit_row(inc="Z", nature="CAFÉ")])
        .split(b"\n")[1]
        .replace("É".encode(), b"\xc9")
    )
    data += bad_row + b"\n"
    path = tmp_path / "x.csv"
    path.write_bytes(bytes(data))
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    f = report.files[0]
    assert f.encoding == "utf-8"
    assert "bad_encoding" in f.encoding_note
    assert report.rejects_by_reason == {"bad_encoding": 1}
    types = Store(data_dir).sql("select distinct call_type from responses")["call_type"]
    assert types.to_list() == ["CAFÉ"]
    rej = _rejects(data_dir)
    offset = bytes(data).index(b"\xc9")
    assert rej["detail"][0] == f"invalid UTF-8 byte 0xC9 at byte offset {offset} of the file"
    assert rej["source_row"][0] == 5


def test_wholly_8bit_file_is_read_as_cp1252_and_says_so(tmp_path, data_dir, unit_toml):
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row(nature="CAFÉ")], encoding="cp1252")
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.files[0].encoding == "cp1252"
    assert "not UTF-8" in report.files[0].encoding_note
    assert Store(data_dir).sql("select call_type from responses")["call_type"][0] == "CAFÉ"


def test_profile_encoding_cp1252_wins(tmp_path, data_dir, unit_toml):
    text = unit_toml.read_text().replace(
        'crs = "EPSG:4326"', 'crs = "EPSG:4326"\nencoding = "cp1252"'
    )
    unit_toml.write_text(text)
    data = _csv_bytes([unit_row(nature="CAFÉ")]).replace(b"\xc3\x89", b"\xc9") + "é".encode()
    path = tmp_path / "x.csv"
    path.write_bytes(data + b"\n")
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.files[0].encoding == "cp1252"
    assert report.rows_rejected == 1  # the stray 'Ã©' line is a malformed row, not a guess


# ---------------------------------------------------------------- kinds by content
def test_zip_named_csv_with_one_csv_is_read(tmp_path, data_dir, unit_toml):
    inner = _csv_bytes([unit_row()])
    path = tmp_path / "export.csv"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("Calls.csv", inner)
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_accepted == 1
    assert report.files[0].kind == "csv in zip member 'Calls.csv'"


def test_zip_of_several_files_is_a_clear_error(tmp_path, data_dir, unit_toml):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", _csv_bytes([unit_row()]))
        zf.writestr("b.csv", _csv_bytes([unit_row()]))
    with pytest.raises(IngestError, match=r"zip archive holding 2 files .*unzip it"):
        ingest(path, load_profile(unit_toml), data_dir=data_dir)


def test_gzip_named_csv_is_read(tmp_path, data_dir, unit_toml):
    path = tmp_path / "x.csv"
    path.write_bytes(gzip.compress(_csv_bytes([unit_row()])))
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_accepted == 1 and report.files[0].kind == "csv in gzip"


def test_xlsx_named_csv_is_read_as_excel(tmp_path, data_dir, unit_toml):
    import xlsxwriter

    path = tmp_path / "x.csv"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    for i, row in enumerate([UNIT_HEADER, unit_row()]):
        ws.write_row(i, 0, row)
    wb.close()
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_accepted == 1 and report.files[0].kind == "excel"


@pytest.mark.parametrize(
    "content, needle",
    [
        (os.urandom(4096) + b"\x00\x01", "binary data"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"SQLite format 3\x00" + b"\x00" * 100, "an SQLite database"),
        ("a,b\n1,2\n".encode("utf-16"), "UTF-16 text"),
        (b'[{"a": 1}]', "a JSON array"),
    ],
)
def test_unreadable_kinds_are_named(tmp_path, data_dir, unit_toml, content, needle):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=needle + r".*cannot be read; "):
        ingest(path, load_profile(unit_toml), data_dir=data_dir)


def test_sniff_magic_numbers():
    assert sniff(b"\x1f\x8b\x08") == "gzip"
    assert sniff(b"PK\x03\x04") == "zip"
    assert sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") == "xls"
    assert sniff(b"PAR1") == "parquet"
    assert sniff(b'{"a": 1}\n') == "ndjson"
    assert sniff(b"a,b\r\n1,2\r\n") == "csv"


def test_cr_only_line_ends(tmp_path, data_dir, unit_toml):
    path = tmp_path / "x.csv"
    path.write_bytes(_csv_bytes([unit_row(inc="A"), unit_row(inc="B")]).replace(b"\n", b"\r"))
    report = ingest(path, load_profile(unit_toml), data_dir=data_dir)
    assert report.rows_accepted == 2
    assert "CR only" in report.files[0].encoding_note


def test_header_of_5000_columns(tmp_path):
    header = [f"C{i}" for i in range(5000)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(header) + "\n" + ",".join(str(i) for i in range(5000)) + "\n")
    src = SourceFile(path, tmp_path)
    assert src.columns == header
    (chunk,) = list(src.chunks())
    assert chunk["C4999"].to_list() == ["4999"] and chunk["_read_reason"].null_count() == 1


# ---------------------------------------------------------------- profile checks
BASE = {
    "source": {"timezone": "UTC"},
    "columns": {"incident_id": "A", "unit_id": "B", "call_received_at": "C", "call_type": "D"},
}


def test_unknown_strftime_directive_is_caught():
    data = {**BASE, "source": {"timezone": "UTC", "timestamp_format": "%Y-%m-%d %Q"}}
    with pytest.raises(
        ProfileError, match=r"`timestamp_format` '%Y-%m-%d %Q'.*unknown directive %Q"
    ):
        parse_profile(data)
    data = {**BASE, "formats": {"dispatched_at": ["%Y-%m-%d %H:%M:%S", "%d/%m/%Y %E"]}}
    with pytest.raises(ProfileError, match=r"`formats.dispatched_at` '%d/%m/%Y %E'"):
        parse_profile(data)


def test_bad_category_globs_are_caught():
    data = {**BASE, "categories": {"ems": ["Medical*", "[Cc]ardiac", "[Ff", " ", "Fall "]}}
    with pytest.raises(ProfileError) as exc:
        parse_profile(data)
    msg = str(exc.value)
    assert "`categories.ems` pattern '[Ff' is not a valid glob (unclosed '['" in msg
    assert "`categories.ems` pattern ' ' is blank" in msg
    assert "`categories.ems` pattern 'Fall ' has leading or trailing spaces" in msg
    assert "[Cc]ardiac" not in msg  # a character class is a valid glob


def test_category_globs_match_like_fnmatch(tmp_path):
    """The ingest's vectorised glob and fnmatch agree (classes, negation, literal brackets)."""
    import fnmatch

    from dispatch_analytics.ingest.globs import glob_to_regex

    pats = ["Med*", "[Cc]ardiac*", "[!F]all", "Alarm [[]commercial[]]", "x?y", "a-b", "[a-c]z"]
    values = [
        "Medical",
        "cardiac arrest",
        "Cardiac",
        "Ball",
        "Fall",
        "Alarm [commercial]",
        "xzy",
        "xy",
        "a-b",
        "bz",
        "dz",
        "Med",
    ]
    for p in pats:
        rx = glob_to_regex(p)
        got = pl.Series(values).str.contains(rx).to_list()
        assert got == [fnmatch.fnmatchcase(v, p) for v in values], p


# ---------------------------------------------------------------- fuzz
_PROFILE = parse_profile(
    {
        "source": {"timezone": "America/New_York", "timestamp_format": "%m/%d/%Y %H:%M:%S"},
        "columns": {
            "incident_id": "Event #",
            "unit_id": "Apparatus",
            "call_type": "Nature",
            "call_received_at": "Call Rcvd",
            "dispatched_at": "Dispatched",
            "on_scene_at": "Arrived",
            "latitude": "Lat",
            "longitude": "Lon",
        },
    },
    name="fuzz",
)

_field = st.one_of(
    st.sampled_from(["", "E1", "01/15/2024 10:00:00", "40.7", '"', '""', ",", "\r", "\n", "é"]),
    st.text(max_size=6),
    st.binary(max_size=6).map(lambda b: b.decode("latin-1")),
)


@st.composite
def _files(draw):
    n = draw(st.integers(0, 8))
    ending = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    header = ",".join(UNIT_HEADER).encode()
    lines = [header]
    for _ in range(n):
        k = draw(st.integers(0, 13))
        fields = [draw(_field) for _ in range(k)]
        quote = draw(st.booleans())
        cells = [f'"{f}"' if quote else f for f in fields]
        enc = draw(st.sampled_from(["utf-8", "cp1252", "latin-1"]))
        lines.append(",".join(cells).encode(enc, errors="replace"))
    data = ending.join(lines) + draw(st.sampled_from([b"", ending]))
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=8)) + data[cut:]
    return data


@settings(max_examples=examples(120), deadline=None, suppress_health_check=list(HealthCheck))
@given(data=_files())
def test_fuzz_no_traceback_and_rows_add_up(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "x.csv"
    path.write_bytes(data)
    try:
        src = SourceFile(path, tmp)
        if set(_PROFILE.columns.values()) - set(src.columns):
            return  # a header the fuzz broke: check_columns names the missing ones
        read = acc = rej = 0
        for chunk in src.chunks(4):
            a, r = normalize_chunk(chunk, _PROFILE, "x.csv", "b", None, src.columns)
            read += chunk.height
            acc += a.height
            rej += r.height
            assert set(a["source_row"]).isdisjoint(set(r["source_row"]))
        assert read == acc + rej
    except IngestError:
        pass  # a clear, deliberate error (empty file, binary content, ...)


def test_fuzz_inputs_through_the_real_ingest(tmp_path, unit_toml):
    """A few nasty files end to end: each is an IngestError or adds up, never a traceback."""
    samples = [
        b"",
        b"\n\n\n",
        ",".join(UNIT_HEADER).encode() + b"\n",
        ",".join(UNIT_HEADER).encode() + b'\n"unterminated,quote\n1,2\n',
        ",".join(UNIT_HEADER).encode() + b"\r\n\r\n" + ",".join(unit_row()).encode() + b"\r\n",
        b"\xff" * 50,
    ]
    for i, data in enumerate(samples):
        path = tmp_path / f"f{i}.csv"
        path.write_bytes(data)
        try:
            report = ingest(path, load_profile(unit_toml), data_dir=tmp_path / f"s{i}")
        except IngestError:
            continue
        assert report.rows_read == report.rows_accepted + report.rows_rejected
    assert pl.__version__
