"""The settings pages' navigation: each app registers its pages in AppConfig.ready().

A page falls in the group of its order's band (People from 0, Tickets from 30, Email from 60,
Security from 900) unless it names its group; the settings index and the side navigation show
the pages in those groups, each with its one sentence of what it changes.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    label: str
    url_name: str
    order: int
    description: str = ""
    group: str = ""


@dataclass(frozen=True)
class Group:
    name: str
    sections: list[Section] = field(default_factory=list)


# (group, the lowest order in its band), in the order the groups are shown.
GROUPS: list[tuple[str, int]] = [("People", 0), ("Tickets", 30), ("Email", 60), ("Security", 900)]

_sections: dict[str, Section] = {}


def register(
    label: str, url_name: str, order: int = 100, description: str = "", group: str = ""
) -> None:
    _sections[url_name] = Section(label, url_name, order, description, group or _band(order))


def _band(order: int) -> str:
    return [name for name, start in GROUPS if start <= order][-1]


def sections() -> list[Section]:
    return sorted(_sections.values(), key=lambda s: (s.order, s.label))


def grouped() -> list[Group]:
    """The groups that have pages, in GROUPS order (then any other group by name)."""
    names = [name for name, _start in GROUPS]
    groups: dict[str, Group] = {}
    for section in sections():
        groups.setdefault(section.group, Group(section.group)).sections.append(section)
    rank = {name: i for i, name in enumerate(names)}
    return sorted(groups.values(), key=lambda g: (rank.get(g.name, len(names)), g.name))
