"""Search's pages under /agent/search/: the results (a whole page, or the top bar's dropdown
when htmx asks)."""

from django.urls import path

from search import views

app_name = "search"
urlpatterns = [path("", views.results, name="results")]
