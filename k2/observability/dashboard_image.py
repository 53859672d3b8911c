"""Draw a fetched dashboard as one PNG laid out like CloudWatch's grid, and an HTML page around it.

matplotlib draws on an Agg canvas of its own (no pyplot, no global backend, no display), so the
rendering works in a terminal, a test or CI. Sizes are fixed per grid cell, which makes the image
size a function of the layout alone (:func:`image_size`).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from k2.monitoring.dashboard import GRID_COLUMNS, Dashboard, Panel, PanelKind, Placement
from k2.monitoring.metrics import Unit
from k2.observability.dashboard_data import DashboardData, PanelData, Window

DPI = 100
COLUMN_PX = 75
"""One of the 24 grid columns: the image is 1800 px wide."""
GRID_ROW_PX = 40
"""One grid unit of height: a row header is 1, a panel usually 6."""
HEADER_PX = 90
"""The band above the grid: dashboard name, time window, source."""
_GAP_PX = 4
_TEXT_LINE_PX = 10.5
_TITLE_PX = 24
_LABEL_CHARS = 48

_UNIT_SHORT = {
    Unit.COUNT: "count",
    Unit.MILLISECONDS: "ms",
    Unit.SECONDS: "s",
    Unit.PERCENT: "%",
    Unit.NONE: "",
}


def grid_height(dashboard: Dashboard) -> int:
    return max((p.y + p.height for p in dashboard.layout()), default=0)


def image_size(dashboard: Dashboard) -> tuple[int, int]:
    """(width, height) in pixels of the PNG :func:`render_png` draws for ``dashboard``."""
    return GRID_COLUMNS * COLUMN_PX, HEADER_PX + grid_height(dashboard) * GRID_ROW_PX


def format_value(value: float) -> str:
    """Thousands separated, at most two decimals, no trailing zeros: ``1,234.5``, ``7``."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def unit_text(unit: Unit) -> str:
    return _UNIT_SHORT.get(unit, unit.value)


def _axis_label(panel: Panel) -> str:
    assert panel.y_axis is not None
    label, short = panel.y_axis.label, unit_text(panel.y_axis.unit)
    words = label.lower().split()
    if not short or short in words or panel.y_axis.unit.value.lower() in words:
        return label
    return f"{label} ({short})"


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def duration_text(length: timedelta) -> str:
    """``3 h``, ``35 min``, ``2 d 4 h``: the window's length as a reader says it."""
    minutes = int(length.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    return " ".join(parts) or f"{int(length.total_seconds())} s"


def window_text(window: Window) -> str:
    return (
        f"{window.start:%Y-%m-%d %H:%M} → {window.end:%Y-%m-%d %H:%M} UTC "
        f"({duration_text(window.end - window.start)})"
    )


_TICK_STEPS_MIN = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)


def time_ticks(window: Window, most: int) -> list[datetime]:
    """Round UTC times inside the window, at the smallest step that gives at most ``most``."""
    span_min = (window.end - window.start).total_seconds() / 60
    step = next((s for s in _TICK_STEPS_MIN if span_min / s <= most), _TICK_STEPS_MIN[-1])
    first = math.ceil(window.start.timestamp() / (step * 60)) * step * 60
    ticks = []
    moment = first
    while moment <= window.end.timestamp():
        ticks.append(datetime.fromtimestamp(moment, UTC))
        moment += step * 60
    return ticks


# -- the PNG ---------------------------------------------------------------------------------------


class _Canvas:
    """Pixel coordinates from the top-left corner, converted to matplotlib's figure fractions."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.width, self.height = image_size(dashboard)
        self.figure = Figure(figsize=(self.width / DPI, self.height / DPI), dpi=DPI)
        self.figure.patch.set_facecolor("#f2f3f3")
        FigureCanvasAgg(self.figure)

    def rect(
        self, left: float, top: float, width: float, height: float
    ) -> tuple[float, float, float, float]:
        return (
            left / self.width,
            1 - (top + height) / self.height,
            width / self.width,
            height / self.height,
        )

    def point(self, left: float, top: float) -> tuple[float, float]:
        return left / self.width, 1 - top / self.height

    def text(self, left: float, top: float, text: str, **style: object) -> None:
        self.figure.text(*self.point(left, top), text, va="top", ha="left", **style)  # type: ignore[arg-type]

    def box(self, left: float, top: float, width: float, height: float) -> None:
        x, y, w, h = self.rect(left, top, width, height)
        self.figure.patches.append(
            Rectangle(
                (x, y),
                w,
                h,
                transform=self.figure.transFigure,
                facecolor="white",
                edgecolor="#d5dbdb",
                linewidth=0.8,
                zorder=-1,  # under the panel's axes (zorder 0)
            )
        )


def render_png(data: DashboardData) -> bytes:
    """The whole dashboard as PNG bytes of :func:`image_size`."""
    canvas = _Canvas(data.dashboard)
    canvas.text(16, 14, data.dashboard.title, fontsize=18, fontweight="bold", color="#16191f")
    canvas.text(
        16,
        48,
        f"{window_text(data.window)}    source: {data.source}",
        fontsize=10,
        color="#545b64",
    )
    by_title = {panel_data.panel.title: panel_data for panel_data in data.panels}
    for placement in data.dashboard.layout():
        if placement.panel is None:
            _row_header(canvas, placement)
        else:
            _panel(canvas, placement, by_title[placement.panel.title], data.window)
    buffer = io.BytesIO()
    canvas.figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _cell(placement: Placement) -> tuple[float, float, float, float]:
    """The panel's box in pixels: left, top, width, height (inside the grid gaps)."""
    return (
        placement.x * COLUMN_PX + _GAP_PX,
        HEADER_PX + placement.y * GRID_ROW_PX + _GAP_PX,
        placement.width * COLUMN_PX - 2 * _GAP_PX,
        placement.height * GRID_ROW_PX - 2 * _GAP_PX,
    )


def _row_header(canvas: _Canvas, placement: Placement) -> None:
    left, top, _, _ = _cell(placement)
    canvas.text(left + 4, top + 8, placement.title, fontsize=12, fontweight="bold", color="#16191f")


def _panel(canvas: _Canvas, placement: Placement, data: PanelData, window: Window) -> None:
    left, top, width, height = _cell(placement)
    canvas.box(left, top, width, height)
    canvas.text(left + 8, top + 6, data.panel.title, fontsize=9.5, fontweight="bold")
    body = (left, top + _TITLE_PX, width, height - _TITLE_PX)
    if data.panel.kind is PanelKind.TIMESERIES:
        _timeseries(canvas, body, data, window)
    elif data.panel.kind is PanelKind.SINGLE_VALUE:
        _single_values(canvas, body, data)
    else:
        _log_table(canvas, body, data)


def _notes_band(
    canvas: _Canvas, body: tuple[float, float, float, float], notes: Sequence[str]
) -> float:
    """Write notes at the bottom of the panel; returns the pixels they take."""
    if not notes:
        return 0.0
    left, top, width, height = body
    chars = max(20, int(width / 5.2))
    lines = [_clip(note, chars) for note in notes][:3]
    used = 11.0 * len(lines) + 4
    canvas.text(
        left + 8, top + height - used, "\n".join(lines), fontsize=7, color="#b7410e", style="italic"
    )
    return used


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _timeseries(
    canvas: _Canvas, body: tuple[float, float, float, float], data: PanelData, window: Window
) -> None:
    left, top, width, height = body
    drawn = [series for series in data.series if series.points]
    notes = [note for note in data.notes if drawn]
    notes_px = _notes_band(canvas, body, notes)
    columns = max(1, int(width // 190))
    plot_left, plot_right, plot_top = 58.0, 12.0, 4.0
    room = height - plot_top - 26 - notes_px
    # The legend takes at most half the room; a panel with more lines than that names the first
    # ones and counts the rest (every line is in the HTML page's table).
    capacity = columns * max(1, int((room / 2 - 4) // _TEXT_LINE_PX))
    legend_entries = len(drawn) if len(drawn) <= capacity else capacity
    legend_rows = math.ceil(legend_entries / columns) if drawn else 0
    legend_px = legend_rows * _TEXT_LINE_PX + (4 if legend_rows else 0)
    plot_height = max(room - legend_px, 1.0)
    axes = canvas.figure.add_axes(
        canvas.rect(left + plot_left, top + plot_top, width - plot_left - plot_right, plot_height)
    )
    _time_axis(axes, window, width)
    assert data.panel.y_axis is not None
    axes.set_ylabel(_axis_label(data.panel), fontsize=7, color="#545b64")
    for series in drawn:
        times = [when for when, _ in series.points]
        values = [value for _, value in series.points]
        x = mdates.date2num(times)  # type: ignore[no-untyped-call]
        (line,) = axes.plot(x, values, linewidth=1.2, marker="o", markersize=2)
        line.set_label(_short(series.label))
    if data.panel.y_axis.minimum is not None:
        axes.set_ylim(bottom=data.panel.y_axis.minimum)
    if not drawn:
        axes.set_ylim(0, 1)
        axes.text(
            0.5,
            0.5,
            "\n".join(data.notes),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="#687078",
            wrap=True,
        )
        return
    legend_top = top + plot_top + plot_height + 24
    handles: list[Any] = list(axes.get_lines())
    if len(handles) > capacity:
        more = len(handles) - (capacity - 1)
        handles = handles[: capacity - 1]
        handles.append(Line2D([], [], linestyle="none", label=f"+{more} more (see the HTML page)"))
    canvas.figure.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=canvas.point(left + plot_left - 8, legend_top),
        ncols=columns,
        fontsize=6.5,
        frameon=False,
        handlelength=1.5,
        borderaxespad=0,
        borderpad=0,
        labelspacing=0.25,
        columnspacing=1.2,
    )


def _time_axis(axes: Axes, window: Window, width: float) -> None:
    axes.set_xlim(window.start, window.end)  # type: ignore[arg-type]
    ticks = time_ticks(window, max(2, int(width // 75)))
    axes.set_xticks(ticks)  # type: ignore[arg-type]
    daily = (window.end - window.start) > timedelta(days=1)
    style = "%m-%d %H:%M" if daily else "%H:%M"
    axes.xaxis.set_major_formatter(mdates.DateFormatter(style, tz=UTC))  # type: ignore[no-untyped-call]
    axes.tick_params(labelsize=7, colors="#545b64", length=2)
    axes.grid(True, color="#eaeded", linewidth=0.6)
    axes.set_axisbelow(True)
    for spine in ("top", "right"):
        axes.spines[spine].set_visible(False)
    axes.annotate(
        "UTC",
        xy=(1, 0),
        xycoords="axes fraction",
        xytext=(0, -14),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=6.5,
        color="#687078",
    )


def _single_values(
    canvas: _Canvas, body: tuple[float, float, float, float], data: PanelData
) -> None:
    left, top, width, height = body
    shown = [series for series in data.series if series.latest is not None]
    failures = [note for note in data.notes if shown]
    notes_px = _notes_band(canvas, body, failures)
    if not shown:
        canvas.text(left + 8, top + 8, "\n".join(data.notes), fontsize=8, color="#687078")
        return
    columns = min(len(shown), 3)
    cell_width = (width - 16) / columns
    cell_height = (height - notes_px) / math.ceil(len(shown) / columns)
    for index, series in enumerate(shown):
        latest = series.latest
        assert latest is not None
        cell_left = left + 8 + (index % columns) * cell_width
        cell_top = top + (index // columns) * cell_height
        canvas.text(cell_left, cell_top + 2, _short(series.label), fontsize=7.5, color="#545b64")
        suffix = "" if series.unit is Unit.COUNT else unit_text(series.unit)
        value = f"{format_value(latest[1])} {suffix}".strip()
        canvas.text(cell_left, cell_top + 16, value, fontsize=20, color="#0972d3")
        canvas.text(
            cell_left, cell_top + 48, f"at {latest[0]:%H:%M} UTC", fontsize=6.5, color="#687078"
        )


def _log_table(canvas: _Canvas, body: tuple[float, float, float, float], data: PanelData) -> None:
    left, top, width, height = body
    table = data.log_table
    if table is None or not table.rows:
        canvas.text(left + 8, top + 8, "\n".join(data.notes), fontsize=8, color="#687078")
        return
    chars = max(20, int((width - 16) / 5.0))
    fits = max(1, int((height - 24) // _TEXT_LINE_PX))
    lines = ["  ".join(table.columns)] + ["  ".join(row) for row in table.rows[:fits]]
    canvas.text(
        left + 8,
        top + 4,
        "\n".join(_clip(line, chars) for line in lines),
        fontsize=6.5,
        family="monospace",
        linespacing=1.25,
    )


# -- the HTML page ---------------------------------------------------------------------------------


def latest_rows(data: DashboardData) -> list[tuple[str, str, str, str, str, str]]:
    """(row, panel, series, latest value, unit, at UTC) for every series of every metric panel;
    a panel with nothing to show has one row whose value says why."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    for row in data.dashboard.rows:
        for panel in row.panels:
            if panel.kind is PanelKind.LOG_TABLE:
                continue
            panel_data = data.panel(panel.title)
            with_points = [series for series in panel_data.series if series.latest is not None]
            for series in with_points:
                when, value = series.latest  # type: ignore[misc]
                rows.append(
                    (
                        row.title,
                        panel.title,
                        series.label,
                        format_value(value),
                        unit_text(series.unit),
                        f"{when:%Y-%m-%d %H:%M}",
                    )
                )
            if not with_points:
                why = "; ".join(panel_data.notes) or "no data in the window"
                rows.append((row.title, panel.title, "—", why, "", ""))
    return rows


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #16191f; background: #f2f3f3; }
img.dashboard { max-width: 100%; border: 1px solid #d5dbdb; background: white; }
table { border-collapse: collapse; background: white; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d5dbdb; padding: 3px 8px; text-align: left; vertical-align: top; }
td.value { text-align: right; font-variant-numeric: tabular-nums; }
section.panel { background: white; border: 1px solid #d5dbdb; padding: 8px 16px; margin: 8px 0; }
p.why { color: #545b64; margin: 4px 0; }
ul.notes { color: #b7410e; font-style: italic; }
pre { font-size: 12px; white-space: pre-wrap; }
"""


def _cells(tag: str, values: Sequence[str], classes: Sequence[str] = ()) -> str:
    parts = []
    for index, value in enumerate(values):
        css = f' class="{classes[index]}"' if index < len(classes) and classes[index] else ""
        parts.append(f"<{tag}{css}>{html.escape(value)}</{tag}>")
    return "<tr>" + "".join(parts) + "</tr>"


def render_html(data: DashboardData, png: bytes) -> str:
    """One self-contained page: the PNG inline, each panel's question, notes and log rows, and
    a table of the latest value of every series."""
    title = html.escape(data.dashboard.title)
    picture = base64.b64encode(png).decode("ascii")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="window">{html.escape(window_text(data.window))}</p>',
        f'<p class="source">source: {html.escape(data.source)}</p>',
        f'<img class="dashboard" alt="{title}" src="data:image/png;base64,{picture}">',
        "<h2>Latest values</h2>",
        '<table id="latest-values">',
        _cells("th", ("row", "panel", "series", "latest", "unit", "at (UTC)")),
        *(_cells("td", row, ("", "", "", "value")) for row in latest_rows(data)),
        "</table>",
        "<h2>Panels</h2>",
    ]
    for row in data.dashboard.rows:
        parts.append(f'<h3 class="row">{html.escape(row.title)}</h3>')
        for panel in row.panels:
            parts.append(_panel_section(data.panel(panel.title)))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _panel_section(data: PanelData) -> str:
    panel = data.panel
    parts = [
        '<section class="panel">',
        f"<h4>{html.escape(panel.title)}</h4>",
        f'<p class="why">{html.escape(panel.why)}</p>',
    ]
    if panel.replaces:
        replaced = ", ".join(panel.replaces)
        parts.append(f'<p class="why">replaces: {html.escape(replaced)}</p>')
    if data.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in data.notes)
        parts.append(f'<ul class="notes">{items}</ul>')
    if panel.log_query is not None:
        parts.append(f"<pre>{html.escape(panel.log_query.query)}</pre>")
    if data.log_table is not None and data.log_table.rows:
        parts.append("<table>")
        parts.append(_cells("th", data.log_table.columns))
        parts.extend(_cells("td", row) for row in data.log_table.rows)
        parts.append("</table>")
    parts.append("</section>")
    return "\n".join(parts)


def write_dashboard(data: DashboardData, png_path: Path, html_path: Path | None) -> None:
    """Write the PNG, and the HTML page if a path is given (folders are created)."""
    png = render_png(data)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.write_bytes(png)
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(data, png), encoding="utf-8")
