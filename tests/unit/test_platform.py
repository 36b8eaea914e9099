from __future__ import annotations

import io

from services.platform import ProgressBar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_a_line_every_tenth_of_the_way_not_carriage_returns():
    out = io.StringIO()
    bar = ProgressBar("Seeding 300 synthetic referrals", 300, out)
    for done in range(1, 301):
        bar.update(done, 300)
    bar.finish("done")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "Seeding 300 synthetic referrals: 1/300"
    assert lines[-2:] == ["Seeding 300 synthetic referrals: 300/300", "Seeding 300 synthetic referrals: done"]
    assert len(lines) == 12  # the first, one per tenth, and the outcome


def test_a_terminal_gets_one_bar_redrawn_in_place():
    out = _Tty()
    bar = ProgressBar("Seeding 4 synthetic referrals", 4, out)
    for done in range(1, 5):
        bar.update(done, 4)
    bar.finish("done")
    drawn = out.getvalue()
    assert drawn.count("\r") == 4 and drawn.count("\n") == 2
    assert f"[{'#' * ProgressBar.WIDTH}] 4/4" in drawn
