"""Settings -> Search: the tenant's language."""

from django import forms

from search.models import Language


class SearchSettingsForm(forms.Form):
    language = forms.ChoiceField(
        choices=Language.choices,
        label="Language of your tickets",
        help_text=(
            "With a language, searches find other forms of a word (“invoices” finds "
            "“invoice”) and skip its common words; with none, words match as written, "
            "which suits names, codes and tickets in several languages. Accents never "
            "matter. On the embedded SQLite database only English has word forms."
        ),
    )
