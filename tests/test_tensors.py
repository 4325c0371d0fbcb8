"""tensor-basics: every value of the report, computed by hand (the book's chapter 1 prints most of them)."""

from __future__ import annotations

import json

from mlprojects.runner import run

EXPECTED = [
    [], 3, [2, 2, 2], 5, "torch.float32",
    [[0, 0, 0], [0, 0, 0]], [[1, 1, 1], [1, 1, 1]], [[9, 9, 9], [9, 9, 9]], [10.0, 11.0, 12.0], [3, 6, 9, 12, 15],
    [2, 2],
    [[2, 0, 4, 6], [5, 3, 3, 1], [3, -2, 5, 4], [-5, 5, 3, 0]],
    # row 1 of x @ x: 2*2 + 5*0 + 3*4 + -5*6 = -14, 2*5 + 5*3 + 3*3 + -5*1 = 29, ...
    [[-14, 29, -9, 24], [22, 8, 4, 9], [46, 47, 43, 10], [28, 45, 36, -13]],
    5.0, [[0.6, -0.2], [-0.2, 0.4]], [[1.0], [1.0]],  # det 2*3 - 1*1; inverse adj/5; 2a + b = 3, a + 3b = 4
    [6, 6, -6], [1, 1, -3], [3, 3, -1], [2.0, 2.0, -2.0], 6, [False, False, False], [True, True, True],
    [[2, 5, 3, -5], [4, 6, 3, 8], [12, 2, 8, 0]],
    [[2, 5, 3, -5], [0, 9, -10, 15], [36, 1, 16, 0]],
    [[2, 5, 3, -5], [0, 3, -2, 3], [6, 1, 4, 0]],
    [[2, 5, 3, -5], [4, 3, 5, 5], [6, 1, 4, 0]],
    [[2, 5, 3, -5], [2, 3, 1, 4], [6, 1, 4, 0]],  # (-2 + 5) / 2 = 1.5: the integer mean truncates, as TF's
    [3, 2, 1, 3], [1, 3, 2, 0], [1, 2, 3, 6, 7], [[0, 0], [1, 1]], [[1, -2, 3], [-3, -2, 1], [-1, 2, 3]],
    [1, 2, 4, 7, 8],
    [2, 3], [[1, 2], [3, 4], [5, 6]], [1, 2, 3, 4, 5, 6], [1, 2], [2, 1, 3],
    [[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]], [[0, 0, 0, 0, 0], [1, 2, 3, 0, 0], [4, 5, 6, 0, 0]],
]


def test_every_value_of_the_report_by_hand(tmp_path):
    run_dir = run("tensor-basics", {}, out=tmp_path / "t", progress=False)
    values = json.loads((run_dir / "metrics.json").read_text())["values"]
    assert list(values.values()) == EXPECTED
    report = (run_dir / "report.md").read_text()
    assert "| 4 | `sess.run(t[1, 1, 0])` | `torch.tensor(t)[1, 1, 0]` | `5` |" in report
    assert report.count("\n| ") == len(EXPECTED) + 7  # every value, and the header of each of the 7 sections
