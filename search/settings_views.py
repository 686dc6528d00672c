"""Settings -> Search (tenant admins only): the language the tenant's tickets are searched in.
A change re-indexes the tenant in the background (search.tasks.reindex)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from search.forms import SearchSettingsForm
from search.selectors import search_settings
from search.services import search_settings_update
from tenants.access import admin_required


@require_http_methods(["GET", "POST"])
@admin_required
def index(request):
    current = search_settings()
    form = SearchSettingsForm(request.POST or None, initial={"language": current.language})
    if request.method == "POST":
        if form.is_valid():
            language = form.cleaned_data["language"]
            search_settings_update(organization=request.organization, language=language)
            if language != current.language:
                messages.success(
                    request, "Saved. Your tickets are being indexed again in this language."
                )
            else:
                messages.success(request, "Saved.")
            return redirect("search_settings:index")
        messages.error(request, "Nothing was saved: choose one of the languages.")
    status = 400 if form.errors else 200
    return render(request, "search/settings.html", {"form": form}, status=status)
