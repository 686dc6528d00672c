"""Who may use the agent workspace and the settings of the tenant in this request."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404


def agent_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.membership:
            # Signed in, but not a member here: this tenant does not exist for them.
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.membership or not request.membership.is_admin:
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper
