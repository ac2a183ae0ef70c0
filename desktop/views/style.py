"""The app's look: a light touch over the platform style that follows the palette.

Colours come from palette roles, so the same sheet reads well in light and dark themes.
"""

from __future__ import annotations

STYLE_SHEET = """
QWidget#sidebar {
    border-right: 1px solid palette(mid);
    background: palette(base);
}
QListWidget#navigation {
    border: none;
    background: palette(base);
    padding-top: 8px;
    font-size: 11pt;
}
QListWidget#navigation::item {
    padding: 9px 16px;
    border-radius: 4px;
    margin: 1px 6px;
}
QListWidget#navigation::item:selected {
    background: palette(highlight);
    color: palette(highlighted-text);
}
QLabel#brand {
    font-size: 14pt;
    font-weight: bold;
    padding: 14px 16px 6px 16px;
    background: palette(base);
}
QLabel#pageSubtitle, QLabel#emptyState {
    color: palette(placeholder-text);
}
QLabel#emptyState {
    font-size: 11pt;
}
QStatusBar QLabel {
    padding: 0 6px;
}
"""
