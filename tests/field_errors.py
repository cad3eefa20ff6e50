"""Issue 14 ("errors are announced next to their fields; focus lands on the first error"),
read from a page's HTML as a screen reader would: the field (or radio group) with an error
has aria-invalid="true" and aria-describedby naming an element that holds the message; the
first field with an error, and only it, has ``autofocus``; the summary at the top
(``#error``, role="alert") repeats the message. ``templates/account/_fields.html`` writes it.
"""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {"input", "br", "img", "meta", "link", "hr", "source", "area", "col", "wbr", "base"}


class _Page(HTMLParser):
    """Each element with an id: its attributes and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attributes: dict[str, dict[str, str | None]] = {}
        self.texts: dict[str, list[str]] = {}
        self.focused: list[str] = []
        #: Each element id → the ids of the elements around it.
        self.ancestors: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        element_id = found.get("id")
        if element_id:
            self.attributes[element_id] = found
            self.texts.setdefault(element_id, [])
            self.ancestors[element_id] = [known for _tag, known in self._open if known]
        if "autofocus" in found:
            self.focused.append(element_id or f"<{tag} name={found.get('name')}>")
        if tag not in VOID:
            self._open.append((tag, element_id))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for _tag, element_id in self._open:
            if element_id:
                self.texts[element_id].append(data)


def read(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


def text_of(page: str, element_id: str) -> str:
    return " ".join("".join(read(page).texts.get(element_id, [])).split())


def assert_field_error(page: str, field: str, message: str, *, first: bool = True) -> None:
    """``field`` (an element id: an input, a select, a textarea or a radio group's fieldset)
    is invalid and described by an element holding ``message``; it has the focus if
    ``first`` (for a group: its first radio button or button has it, described by the
    message too); the summary says it too."""
    parsed = read(page)
    attributes = parsed.attributes.get(field)
    assert attributes is not None, f"no #{field}"
    assert attributes.get("aria-invalid") == "true", (field, attributes)
    described = (attributes.get("aria-describedby") or "").split()
    texts = [" ".join("".join(parsed.texts.get(ref, [])).split()) for ref in described]
    assert any(message in text for text in texts), (field, described, texts, message)
    summary = " ".join("".join(parsed.texts.get("error", [])).split())
    assert message in summary, (summary, message)
    assert parsed.attributes.get("error", {}).get("role") == "alert"
    if first:
        assert len(parsed.focused) == 1, parsed.focused
        focused = parsed.focused[0]
        if focused != field:
            # A group: the focus is on its first choice, described by the message.
            chosen = parsed.attributes.get(focused, {})
            assert field in parsed.ancestors.get(focused, []), (field, focused)
            assert set(described) & set((chosen.get("aria-describedby") or "").split())
    else:
        assert field not in parsed.focused


def assert_no_field_error(page: str) -> None:
    parsed = read(page)
    invalid = [key for key, value in parsed.attributes.items() if value.get("aria-invalid")]
    assert invalid == [] and parsed.focused == [], (invalid, parsed.focused)
