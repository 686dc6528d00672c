"""(being written)"""

app_name = "portal_settings"
urlpatterns: list = []
