"""bench.content_cost runs the real content path for many receivers and reports cores against
people video (a short run: the figures exist and the 1080p5 case is encoded once at 1080p)."""

from __future__ import annotations

from bench.content_cost import content_cost, people_cost


def test_content_cost_figures(tmp_path):
    (tmp_path / "a").mkdir()
    hd = content_cost(8, 1.0, 5, "28", tmp_path / "a")
    assert "1920x1080" in hd.what and "(1 encoding)" in hd.what
    assert hd.frames == 5 and hd.packets >= 8 * 5 and hd.cores > 0
    people = people_cost(8, 0.5)
    assert people.frames == 15 and people.cores > 0
