"""The settings pages' navigation: each app registers its pages in AppConfig.ready()."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    label: str
    url_name: str
    order: int
    description: str = ""


_sections: dict[str, Section] = {}


def register(label: str, url_name: str, order: int = 100, description: str = "") -> None:
    _sections[url_name] = Section(label, url_name, order, description)


def sections() -> list[Section]:
    return sorted(_sections.values(), key=lambda s: (s.order, s.label))
