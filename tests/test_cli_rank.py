"""``python -m seggal rank``."""

import json
import subprocess
import sys

from seggal.ranking import rank_table


def _run(*args):
    return subprocess.run([sys.executable, "-m", "seggal", *args], capture_output=True, text=True, check=False)


def test_rank_json_reproduces_figure_2a_order():
    result = _run("rank", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["method"] for r in rows] == list(rank_table()["method"])
    assert rows[0]["method"] == "Swin-S" and {"method", "overall", "scalability"} <= set(rows[0])
    assert len(rows) == 18


def test_rank_table_text_and_task_sort():
    result = _run("rank", "--task", "nuclei-dual")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[1]
    assert first.startswith("Cellpose")  # best scenario score for nuclei from dual channels


def test_unknown_task_is_a_clear_error():
    result = _run("rank", "--task", "bogus")
    assert result.returncode == 2
    assert "unknown task 'bogus'" in result.stderr and "Traceback" not in result.stderr
