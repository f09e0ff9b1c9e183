"""A page's form as a browser would post it back: the fields of the first form with a submit
button, with what the page shows in them (times to the second, checked boxes, selected options)."""

from html.parser import HTMLParser


class _FormFields(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.fields, self.inside, self.select, self.textarea = [], None, False, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.fields, self.inside = [], True
        elif not self.inside or "disabled" in a:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self.select = [a["name"], None, None]
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            if self.select[1] is None:
                self.select[1] = value
            if "selected" in a:
                self.select[2] = value
        elif tag == "textarea" and a.get("name"):
            self.textarea = [a["name"], ""]

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "select" and self.select is not None:
            name, first, chosen = self.select
            self.fields.append((name, chosen if chosen is not None else (first or "")))
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea[0], self.textarea[1].removeprefix("\n")))
            self.textarea = None
        elif tag == "form" and self.inside:
            self.forms.append(self.fields)
            self.inside = False


def form_as_posted(html):
    """The fields of the page's form with the most fields (the change form, not the search box)."""
    parser = _FormFields()
    parser.feed(html)
    posted = {}
    for name, value in max(parser.forms, key=len):
        if "__prefix__" not in name:
            posted.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in posted.items()}
