def tenant(request):
    return {"organization": getattr(request, "organization", None)}
