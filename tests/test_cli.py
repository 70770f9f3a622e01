"""The command line: every command documented, --help with an example, exit codes."""

import json
import re
from pathlib import Path

import pytest
from conftest import SF_SLICE, UNIT_HEADER, unit_row, write_csv
from typer.main import get_command

from dispatch_analytics.cli import app, main

README = (Path(__file__).parents[1] / "README.md").read_text()


def _all_commands(group, prefix=()):
    out = []
    for name, cmd in group.commands.items():
        out.append(" ".join((*prefix, name)))
        if hasattr(cmd, "commands"):
            out.extend(_all_commands(cmd, (*prefix, name)))
    return out


COMMANDS = sorted(_all_commands(get_command(app)))


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_there_are_commands():
    assert {"ingest", "status", "rejects", "sql", "profiles", "profile-template", "sample"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_example(capsys, name):
    assert main([*name.split(), "--help"]) == 0
    text = capsys.readouterr().out
    assert "Example:" in text and "dispatch" in text.split("Example:")[1]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_documented_in_readme(name):
    assert re.search(rf"`dispatch {re.escape(name)}\b", README), name


def test_ingest_status_rejects_sql(tmp_path, capsys):
    # the default (per-interval exclusion) keeps every row of the slice, 28 of them flagged
    code, out, err = run(
        capsys, "ingest", str(SF_SLICE), "--profile", "sffd", "--data-dir", str(tmp_path / "d0")
    )
    assert code == 0, err
    assert "rows read 427 = accepted 427 + rejected 0" in out
    # the strict mode rejects them: the rejects commands below list them
    from dispatch_analytics.ingest.profiles import builtin_profiles

    strict = tmp_path / "sffd_strict.toml"
    strict.write_text(
        builtin_profiles()["sffd"].read_text() + '\n[validation]\non_stage_error = "reject"\n'
    )
    d = str(tmp_path / "store")
    code, out, err = run(capsys, "ingest", str(SF_SLICE), "--mapping", str(strict), "--data-dir", d)
    assert code == 0, err
    assert "Ingest summary" in out and "stage_order" in out
    assert "rows read 427 = accepted 399 + rejected 28" in out
    code, out, _ = run(capsys, "status", "--data-dir", d)
    assert code == 0 and "Store status" in out and "stage_order" in out
    code, out, _ = run(capsys, "status", "--data-dir", d, "--format", "json")
    st = json.loads(out)["totals"]
    assert st["rows_read"] == st["rows_accepted"] + st["rows_rejected"] == 427
    code, out, _ = run(capsys, "rejects", "--data-dir", d, "--reason", "stage_order", "-f", "csv")
    assert code == 0 and out.count("\n") == 29
    target = tmp_path / "rej.csv"
    code, out, _ = run(capsys, "rejects", "--data-dir", d, "--out", str(target))
    assert code == 0 and target.read_text().count("stage_order") >= 28
    code, out, _ = run(
        capsys, "sql", "select count(*) as n from incidents", "--data-dir", d, "-f", "json"
    )
    assert code == 0 and json.loads(out)[0]["n"] > 100


def test_exit_codes(tmp_path, capsys, unit_toml):
    d = str(tmp_path / "store")
    assert run(capsys, "ingest", "nothing.csv", "--profile", "sffd", "--data-dir", d)[0] == 1
    assert main(["ingest", "x.csv"]) == 2  # neither --profile nor --mapping
    assert main(["ingest", "--no-such-option"]) == 2
    path = write_csv(tmp_path / "x.csv", UNIT_HEADER, [unit_row(), unit_row(inc="")])
    code, _, _ = run(
        capsys, "ingest", str(path), "--mapping", str(unit_toml), "--data-dir", d, "--strict"
    )
    assert code == 3
    code, _, err = run(capsys, "sql", "insert into rejects values (1)", "--data-dir", d)
    assert code == 1 and "Error:" in err
    code, _, err = run(capsys, "status", "--data-dir", str(tmp_path / "empty"))
    assert code == 1 and "no store in" in err


def test_bad_profile_message(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[source]\ntimezone = "EST5"\n[columns]\nincident_id = "A"\n')
    code, _, err = run(
        capsys, "ingest", str(SF_SLICE), "--mapping", str(bad), "--data-dir", str(tmp_path / "s")
    )
    assert code == 1
    assert "`timezone` 'EST5' is not an IANA name" in err
    assert "[source]" in err or "call_received_at" in err


def test_dry_run_cli(tmp_path, capsys):
    d = tmp_path / "store"
    code, out, _ = run(
        capsys, "ingest", str(SF_SLICE), "-p", "sffd", "--dry-run", "--data-dir", str(d)
    )
    assert code == 0 and "dry run" in out and not d.exists()


def test_profiles_and_template(tmp_path, capsys):
    code, out, _ = run(capsys, "profiles", "-f", "json")
    names = {p["name"] for p in json.loads(out)}
    assert {"sffd", "nyc_ems", "nemsis"} <= names
    target = tmp_path / "t.toml"
    code, out, _ = run(
        capsys,
        "profile-template",
        str(SF_SLICE),
        "--timezone",
        "America/Los_Angeles",
        "--out",
        str(target),
    )
    assert code == 0 and 'incident_id = "Incident Number"' in target.read_text()
    code, _, _ = run(
        capsys, "ingest", str(SF_SLICE), "--mapping", str(target), "--data-dir", str(tmp_path / "s")
    )
    assert code == 0


def test_sample_then_ingest(tmp_path, capsys):
    out_dir = tmp_path / "city"
    code, out, _ = run(capsys, "sample", "--out", str(out_dir), "--incidents", "300", "--seed", "3")
    assert code == 0
    csv, toml = out_dir / "sample_city.csv", out_dir / "sample_city.toml"
    code, out, _ = run(
        capsys, "ingest", str(csv), "--mapping", str(toml), "--data-dir", str(tmp_path / "s")
    )
    assert code == 0 and "rows read" in out
    code, _, err = run(capsys, "sample", "--out", str(out_dir), "--incidents", "0")
    assert code == 1 and "`incidents` must be >= 1" in err
