"""Settings -> Search (`search_settings:` names, under /settings/search/)."""

from django.urls import path

from search import settings_views

app_name = "search_settings"
urlpatterns = [path("", settings_views.index, name="index")]
