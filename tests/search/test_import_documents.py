"""`manage.py import_documents`: JSON Lines through the API's rules and the ingest service, resumable."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from search.models import Embedding
from search.selectors import collection_named, collection_stats_problems
from search.services import collection_stats_fold

pytestmark = pytest.mark.django_db


def document(index: int, **extra) -> dict:
    return {
        "external_id": f"d{index}",
        "content": f"boundary layer flow number {index} over wing {index % 7}",
        "model": "m",
        "embedding": [1.0, index % 5, (index % 3) + 0.5],
        "metadata": {"i": index},
        **extra,
    }


def write_lines(path, lines) -> str:
    path.write_text("".join(line if isinstance(line, str) else json.dumps(line) for line in lines))
    return str(path)


def run(*args, tty: bool = False) -> tuple[str, str]:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return tty

    out, err = Terminal(), io.StringIO()
    call_command("import_documents", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args) -> tuple[str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("import_documents", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), str(error.value)


def stored(tenant, collection: str = "docs") -> set[str]:
    return set(Embedding.objects.filter(tenant=tenant, collection=collection).values_list("external_id", flat=True))


def test_imports_in_batches_through_the_service_with_exact_statistics(tenant, tmp_path):
    path = write_lines(tmp_path / "docs.jsonl", [json.dumps(document(i)) + "\n" for i in range(23)] + ["\n"])
    out, err = run(path, "--tenant", tenant.name, "--collection", "docs", "--batch-size", "5")
    assert err == ""
    assert "24 lines: 23 documents written (23 new, 0 replaced), 0 already stored (skipped), 0 bad lines" in out
    assert "documents/s" in out
    assert stored(tenant) == {f"d{i}" for i in range(23)}
    collection = collection_named(tenant, "docs")
    collection_stats_fold(collection_id=collection.id)
    assert collection_stats_problems(collection) == []
    row = Embedding.objects.get(tenant=tenant, collection="docs", external_id="d4")
    assert row.metadata == {"i": 4}
    assert row.dimension == 3


def test_a_rerun_skips_what_is_stored_and_resumes_an_interrupted_import(tenant, tmp_path):
    lines = [json.dumps(document(i)) + "\n" for i in range(12)]
    first_half = write_lines(tmp_path / "half.jsonl", lines[:7])  # as if the first run died after line 7
    run(first_half, "--tenant", str(tenant.id), "--collection", "docs", "--batch-size", "3")
    whole = write_lines(tmp_path / "all.jsonl", lines)
    out, _ = run(whole, "--tenant", tenant.name, "--collection", "docs", "--batch-size", "3")
    assert "5 documents written (5 new, 0 replaced), 7 already stored (skipped)" in out
    again, _ = run(whole, "--tenant", tenant.name, "--collection", "docs")
    assert "0 documents written (0 new, 0 replaced), 12 already stored (skipped)" in again
    assert stored(tenant) == {f"d{i}" for i in range(12)}


def test_bad_lines_are_reported_with_their_numbers_and_the_rest_goes_on(tenant, tmp_path):
    lines = [
        document(1),  # 1
        "{not json\n",  # 2
        document(3, embedding=[float("nan"), 1.0, 2.0]),  # 3: NaN (json.dumps writes NaN, the API parses it)
        document(4, content="   "),  # 4: empty content
        document(5, colour="red"),  # 5: unknown field
        "[1, 2]\n",  # 6: not an object
        document(7, embedding=[1.0, 2.0]),  # 7: the model has dimension 3 (refused by the service, in a batch)
        document(8),  # 8
        document(1, content="the same external id in the same batch"),  # 9: refused by the service
        document(10),  # 10
    ]
    path = write_lines(tmp_path / "docs.jsonl", [json.dumps(x) + "\n" if isinstance(x, dict) else x for x in lines])
    out, err, error = run_failing(path, "--tenant", tenant.name, "--collection", "docs", "--batch-size", "100")
    for number in (2, 3, 4, 5, 6, 7, 9):
        assert f"line {number}: " in err
    assert "line 7: embedding:" in err
    assert "line 5: colour: Unknown field." in err
    assert "line 9: external_id:" in err
    assert "7 bad line(s): 2, 3, 4, 5, 6, 7, 9" in error
    assert stored(tenant) == {"d1", "d8", "d10"}
    assert "3 documents written" in out


def test_stop_on_error_stops_at_the_first_bad_line_keeping_the_batches_written_before(tenant, tmp_path):
    lines = [json.dumps(document(i)) + "\n" for i in range(5)] + ["oops\n"] + [json.dumps(document(9)) + "\n"]
    path = write_lines(tmp_path / "docs.jsonl", lines)
    args = [path, "--tenant", tenant.name, "--collection", "docs", "--stop-on-error", "--batch-size", "2"]
    out, err, error = run_failing(*args)
    assert "line 6: not JSON" in err
    assert "1 bad line(s) (stopped at the first: --stop-on-error): 6" in error
    assert stored(tenant) == {"d0", "d1", "d2", "d3"}  # two whole batches; d4's batch was not complete
    assert "4 documents written" in out


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_otherwise(tenant, tmp_path):
    path = write_lines(tmp_path / "docs.jsonl", [json.dumps(document(i)) + "\n" for i in range(6)])
    bar, _ = run(path, "--tenant", tenant.name, "--collection", "a", "--batch-size", "2", tty=True)
    assert "\r[" in bar
    assert "6/6 lines" in bar
    assert "docs/s" in bar
    plain, _ = run(path, "--tenant", tenant.name, "--collection", "b", "--batch-size", "2", "--progress-every", "0")
    assert "\r" not in plain
    assert "lines, 2 written" in plain  # a line per report, each with docs/s
    assert plain.count("docs/s") >= 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nobody", "--collection", "docs"], "No such tenant"),
        (["--tenant", "{tenant}", "--collection", "docs", "--batch-size", "0"], "--batch-size"),
        (["--tenant", "{tenant}", "--collection", "docs", "--batch-size", "1001"], "--batch-size"),
    ],
)
def test_bad_arguments(tenant, tmp_path, args, message):
    path = write_lines(tmp_path / "docs.jsonl", [json.dumps(document(1)) + "\n"])
    _, _, error = run_failing(path, *[a.replace("{tenant}", tenant.name) for a in args])
    assert message in error
    _, _, missing = run_failing(str(tmp_path / "missing.jsonl"), "--tenant", tenant.name, "--collection", "docs")
    assert "No such file" in missing
