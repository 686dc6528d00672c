"""(being written)"""

app_name = "portal_forms"
urlpatterns: list = []
