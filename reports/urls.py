"""Reports' pages under /agent/reports/."""

app_name = "reports"
urlpatterns: list = []
