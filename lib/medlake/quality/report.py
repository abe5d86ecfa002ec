"""The report's index page with its tables written out as HTML, so that it reads without network access.

Great Expectations' own index page leaves its tables empty and fills them with bootstrap-table,
loaded from a CDN; the pages of suites and validation results are plain HTML already.
"""

from __future__ import annotations

from great_expectations.render.view import DefaultJinjaIndexPageView
from jinja2 import BaseLoader, ChoiceLoader, DictLoader

__all__ = ["OfflineIndexPageView"]

#: Replaces GE's ``bootstrap_table.j2`` (the same context: ``content_block`` with columns and rows).
_TABLE = """{% include 'content_block_header.j2' %}
<table class="table table-sm table-hover">
  <thead><tr>{% for column in content_block["table_columns"] %}<th>{{ column["title"] }}</th>{% endfor %}</tr></thead>
  <tbody>
  {%- for row in content_block["table_data"] | render_bootstrap_table_data %}
    {%- set link = row.get("_table_row_link_path") %}
    <tr>{% for column in content_block["table_columns"] -%}
      {%- set cell = row.get(column["field"], "") | string %}
      {%- if "ge-success-icon" in cell %}{% set cell = cell ~ " passed" %}
      {%- elif "ge-failed-icon" in cell %}{% set cell = cell ~ " failed" %}{% endif %}
      <td>{% if link and "<a " not in cell %}<a href="{{ link }}">{{ cell | safe }}</a>
      {%- else %}{{ cell | safe }}{% endif %}</td>
    {%- endfor %}</tr>
  {%- endfor %}
  </tbody>
</table>
"""


class OfflineIndexPageView(DefaultJinjaIndexPageView):
    """GE's index page view with its tables rendered on the server.

    Cells are GE's own rendered content blocks; cells without a link of their own link to the row's page,
    and a status icon (a font from a CDN) gets the word ``passed`` or ``failed`` beside it.
    """

    def __init__(self, custom_styles_directory: str | None = None, custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory=custom_styles_directory,
                         custom_views_directory=custom_views_directory)
        loaders: list[BaseLoader] = [DictLoader({"bootstrap_table.j2": _TABLE})]
        if self.env.loader is not None:
            loaders.append(self.env.loader)
        self.env.loader = ChoiceLoader(loaders)
