"""A table of the console's pages, made of escaped cells (``format_html``)."""

from django.utils.html import format_html, format_html_join


def html_table(headers, rows, empty) -> str:
    """A table with ``headers`` and ``rows`` (cells are escaped unless already safe), or the
    sentence ``empty`` when there are no rows."""
    if not rows:
        return format_html("<p>{}</p>", empty)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    cells = format_html_join("", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows))
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, cells)
