"""Search's pages under /agent/search/."""

app_name = "search"
urlpatterns: list = []
