"""What inbound mail shows on the ticket page: the "Mark as spam" card in the sidebar."""

from tickets import contributions


def register() -> None:
    contributions.register(
        contributions.Contribution(
            name="inbound_mail.spam", sidebar_templates=("inbound_mail/_ticket_spam.html",)
        )
    )
