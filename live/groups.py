"""The names of the sockets' groups, in one place (ASCII, under 100 characters, always with the
organization's id): what a socket joins (live.consumers) and what the publisher and presence
send to (live.publish, live.presence). docs/architecture.md ("Live") says who hears what."""


def agents_group(organization_id: int) -> str:
    return f"live.o{organization_id}.agents"


def lists_group(organization_id: int) -> str:
    return f"live.o{organization_id}.lists"


def ticket_group(organization_id: int, ticket_id: int) -> str:
    return f"live.o{organization_id}.t{ticket_id}"


def user_group(organization_id: int, user_id: int) -> str:
    return f"live.o{organization_id}.u{user_id}"
