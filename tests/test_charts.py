"""The console's SVG bar charts (blueprints/charts.py), read back with xml.etree: bars, their heights,
labels, the accessible name and description, and the hidden table of the same numbers."""
import xml.etree.ElementTree as ET

import pytest

from blueprints.charts import BarChart, Part, nice_ceiling, render_chart, short_number

SVG = "{http://www.w3.org/2000/svg}"
HOURS = BarChart("requests", "Requests per hour", "Hour (UTC)", "Requests", ("00:00", "01:00", "02:00"),
                 (Part("OK", "ok", (3, 0, 5)), Part("Errors", "error", (1, 0, 2))))


def parse(chart):
    return ET.fromstring(render_chart(chart))


def bars(figure, part):
    return [rect for rect in figure.iter(f"{SVG}rect") if rect.get("data-part") == part]


def test_the_svg_is_an_image_named_by_its_title_and_described_by_the_totals():
    figure = parse(HOURS)
    assert figure.find("figcaption").text == "Requests per hour"
    svg = figure.find(f"{SVG}svg")
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "requests-title requests-desc"
    assert svg.find(f"{SVG}title").get("id") == "requests-title"
    assert svg.find(f"{SVG}title").text == "Requests per hour"
    assert svg.find(f"{SVG}desc").text == "OK: 8; Errors: 3"


def test_bars_stack_errors_on_ok_with_heights_in_proportion_to_the_axis():
    figure = parse(HOURS)
    ok, errors = bars(figure, "ok"), bars(figure, "error")
    assert [rect.get("data-value") for rect in ok] == ["3", "0", "5"]
    assert [rect.get("class") for rect in errors] == ["bar bar-error"] * 3
    # The axis ends at 8 (7 rounded up to four even steps); the plot is 170 units high.
    assert [float(rect.get("height")) for rect in ok] == [63.75, 0, 106.25]
    assert [float(rect.get("height")) for rect in errors] == [21.25, 0, 42.5]
    assert float(errors[2].get("y")) + 42.5 == float(ok[2].get("y"))  # errors sit on top of ok


def test_axes_carry_the_bucket_times_the_steps_and_their_labels():
    texts = [text.text for text in parse(HOURS).iter(f"{SVG}text")]
    assert texts == ["0", "2", "4", "6", "8", "00:00", "01:00", "02:00", "Hour (UTC)", "Requests"]


def test_a_day_of_hours_labels_every_third_bucket():
    hours = tuple(f"{h:02}:00" for h in range(24))
    chart = BarChart("day", "t", "Hour", "n", hours, (Part("OK", "ok", (1,) * 24),))
    ticks = [text.text for text in parse(chart).iter(f"{SVG}text") if text.text.endswith(":00")]
    assert ticks == [f"{h:02}:00" for h in range(0, 24, 3)]


def test_the_hidden_table_holds_every_number_for_screen_readers():
    hidden = parse(HOURS).find("div")
    table = hidden.find("table")
    assert hidden.get("class") == "visually-hidden" and table.find("caption").text == "Requests per hour"
    assert [th.text for th in table.find("thead").iter("th")] == ["Hour (UTC)", "OK", "Errors"]
    assert [[cell.text for cell in row] for row in table.find("tbody")] == [
        ["00:00", "3", "1"], ["01:00", "0", "0"], ["02:00", "5", "2"]]


def test_a_comparison_lays_bars_side_by_side_with_long_names_cut_in_the_picture_only():
    name = "a-very-long-key-label-indeed"
    chart = BarChart("keys", "Per key", "Key", "Requests", (name, "ci"),
                     (Part("OK", "ok", (40, 10)), Part("Errors", "error", (10, 0))), horizontal=True)
    figure = parse(chart)
    ok, errors = bars(figure, "ok"), bars(figure, "error")
    # The axis ends at 80 (50 in four steps of 20) over 334 units of width; errors start where ok ends.
    assert [float(rect.get("width")) for rect in ok] == [167, 41.75]
    assert [float(rect.get("x")) for rect in errors] == [130 + 167, 130 + 41.75]
    assert "a-very-long-key-l…" in [text.text for text in figure.iter(f"{SVG}text")]
    assert figure.find("div/table/tbody/tr/th").text == name


def test_names_are_escaped_in_the_markup():
    chart = BarChart("x", "<b>t</b>", "k", "v", ("<script>",), (Part("a&b", "ok", (1,)),), horizontal=True)
    markup = render_chart(chart)
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "a&amp;b" in markup
    assert parse(chart).find(f"{SVG}svg/{SVG}title").text == "<b>t</b>"


def test_an_empty_chart_still_draws_its_axis():
    figure = parse(BarChart("e", "t", "k", "v", ("a", "b"), (Part("OK", "ok", (0, 0)),)))
    assert [float(rect.get("height")) for rect in bars(figure, "ok")] == [0, 0]
    assert [text.text for text in figure.iter(f"{SVG}text")][:5] == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("value,ceiling", [(0, 4), (3, 4), (5, 8), (7, 8), (9, 10), (100, 100), (101, 200),
                                           (1234, 2000), (0.5, 4)])
def test_the_axis_ends_on_a_round_number(value, ceiling):
    assert nice_ceiling(value) == ceiling


@pytest.mark.parametrize("value,text", [(0, "0"), (12, "12"), (2.5, "2.5"), (1234, "1.2k"), (2_500_000, "2.5M"),
                                        (1000, "1k")])
def test_short_numbers(value, text):
    assert short_number(value) == text
