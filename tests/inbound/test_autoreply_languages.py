"""Out-of-office and other automatic replies in German, French, Spanish and Japanese (subjects,
bodies, the headers responders set), and people's mail with the same words, which stays mail."""

import pytest

from inbound_mail import autoreply, classify
from inbound_mail.parsing import parse_message
from tests.inbound.mails import mail

REPLYING = {"In-Reply-To": "<m1.4711@helpdesk.example>"}


def _headers(extra: dict[str, str] | None = None) -> dict[str, list[str]]:
    return {name.lower(): [value] for name, value in (extra or {}).items()}


@pytest.mark.parametrize(
    "subject",
    [
        # Outlook and Exchange, localised.
        "Automatische Antwort: [#12] Drucker brennt",
        "Abwesenheitsnotiz: [#12] Drucker brennt",
        "Abwesend: Ihre Anfrage",
        "Réponse automatique : [#12] Imprimante en feu",
        "Absence : Re: votre demande",
        "[Absence] Votre demande",
        "Respuesta automática: [#12] Impresora en llamas",
        "Fuera de la oficina: [#12] Impresora",
        "Ausente: su consulta",
        "自動応答: [#12] プリンターが燃えています",
        "自動返信\uff1aお問い合わせありがとうございます"  # a full-width colon,
        "【自動送信】お問い合わせを受け付けました",
        "不在通知",
        "不在\uff1aお問い合わせの件",
        "【不在】ご連絡",
    ],
)
def test_auto_reply_subjects_in_other_languages(subject):
    assert autoreply.classify({}, sender="kunde@beispiel.test", subject=subject) != ""


@pytest.mark.parametrize(
    "subject",
    [
        "Absence de facture pour mars",
        "Absent invoice for March",
        "不在票について",
        "荷物が不在扱いになりました",
        "Ausente el técnico ayer",
        "Urlaubsantrag wird nicht gespeichert",
        "Vacation days not shown in the calendar",
    ],
)
def test_subjects_people_write_with_the_same_words_are_not_automatic(subject):
    assert autoreply.classify({}, sender="kunde@beispiel.test", subject=subject) == ""


@pytest.mark.parametrize(
    "body",
    [
        "Vielen Dank für Ihre Nachricht. Ich bin bis zum 15. März nicht im Büro und habe "
        "keinen Zugriff auf meine E-Mails.",
        "Merci pour votre message. Je suis absente du bureau jusqu'au 15 mars.",
        "Gracias por su mensaje. Estoy fuera de la oficina hasta el 15 de marzo.",
        "お問い合わせありがとうございます。3月15日まで不在にしております。",
        "Thank you for your email. I am out of the office until 15 March.",
    ],
)
def test_out_of_office_body_on_an_answer_without_headers(body):
    headers = _headers(REPLYING)
    reason = autoreply.classify(
        headers, sender="kunde@beispiel.test", subject="[#12] Drucker brennt", text=body
    )
    assert reason == "body: out of office"


def test_out_of_office_body_in_a_new_message_is_a_person_writing():
    body = "Ich bin ab Montag nicht im Büro. Bitte reparieren Sie den Drucker bis Freitag."
    assert autoreply.classify({}, sender="kunde@beispiel.test", subject="Drucker", text=body) == ""


def test_out_of_office_words_in_a_persons_reply_stay_a_reply():
    body = "Ich bin ab morgen nicht im Büro, der Drucker brennt aber immer noch!"
    reason = autoreply.classify(
        _headers(REPLYING), sender="kunde@beispiel.test", subject="AW: [#12] Drucker", text=body
    )
    assert reason == ""


def test_out_of_office_words_in_a_long_answer_stay_a_reply():
    body = "Je suis absente du bureau demain. " + "Voici le détail du problème. " * 80
    reason = autoreply.classify(
        _headers(REPLYING), sender="client@exemple.test", subject="[#12] Imprimante", text=body
    )
    assert reason == ""


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto-Submitted": "auto-replied (vacation)"}, "auto-submitted: auto-replied"),
        ({"X-Autoreply": "yes"}, "x-autoreply"),
        ({"X-Autorespond": "Abwesenheit"}, "x-autorespond"),
        ({"X-Auto-Response-Suppress": "All"}, "x-auto-response-suppress"),
        ({"Precedence": "auto_reply"}, "precedence: auto_reply"),
    ],
)
def test_responder_headers_make_any_language_automatic(headers, reason):
    raw = mail(
        sender="Kunde <kunde@beispiel.test>",
        subject="Re: [#12] Drucker brennt",
        body="Ich bin im Urlaub.",
        headers=headers,
    )
    parsed = parse_message(raw)
    assert parsed.auto_reason == reason
    assert parsed.bounce is None


def test_japanese_out_of_office_through_the_parser_is_automatic_not_a_bounce():
    raw = mail(
        sender="山田 <yamada@kaisha.test>",
        subject="自動返信: [#12] プリンター",
        body="メールありがとうございます。休暇をいただいております。3月18日以降に返信いたします。",
        in_reply_to="m1.4711@helpdesk.example",
    )
    parsed = parse_message(raw)
    verdict = classify.classify(parsed, spam_rule_for=lambda _a: None)
    assert (verdict.kind, parsed.auto_reason) == (classify.AUTO, "subject: auto-reply")
    assert parsed.bounce is None


def test_header_less_spanish_out_of_office_through_the_parser():
    raw = mail(
        sender="Cliente <cliente@empresa.test>",
        subject="[#12] Impresora en llamas",
        body="Estaré ausente hasta el lunes 18 con acceso limitado al correo.",
        in_reply_to="m1.4711@helpdesk.example",
    )
    assert parse_message(raw).auto_reason == "body: out of office"
