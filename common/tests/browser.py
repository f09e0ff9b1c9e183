"""A page's form as a browser would post it back, with what the page shows in its fields (times to
the second, checked boxes, selected options)."""

from html.parser import HTMLParser


class _FormFields(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.fields, self.inside, self.select, self.textarea = [], None, False, None, None
        self.saves = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.fields, self.inside, self.saves = [], True, False
        elif not self.inside or "disabled" in a:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value", "on")))
            elif kind == "submit":
                self.saves = self.saves or a["name"] == "_save"
            elif kind not in ("button", "file", "image", "reset"):
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self.select = [a["name"], None, [], "multiple" in a]
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            if self.select[1] is None:
                self.select[1] = value
            if "selected" in a:
                self.select[2].append(value)
        elif tag == "textarea" and a.get("name"):
            self.textarea = [a["name"], ""]

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "select" and self.select is not None:
            name, first, chosen, multiple = self.select
            if multiple:  # a list box posts what is selected, nothing when nothing is
                self.fields.extend((name, value) for value in chosen)
            else:  # a drop-down posts its selected option, or the first
                self.fields.append((name, chosen[-1] if chosen else (first or "")))
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea[0], self.textarea[1].removeprefix("\n")))
            self.textarea = None
        elif tag == "form" and self.inside:
            self.forms.append((self.saves, self.fields))
            self.inside = False


def form_as_posted(html):
    """The fields of the page's change form (the one with a Save button; else the one with the most
    fields, not the search box or the language switch). Fields of a name given more than once come
    back as a list, as a browser posts them."""
    parser = _FormFields()
    parser.feed(html)
    posted = {}
    saves, fields = max(parser.forms, key=lambda form: (form[0], len(form[1])))
    for name, value in fields:
        if "__prefix__" not in name:
            posted.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in posted.items()}
