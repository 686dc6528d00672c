"""The agent workspace's URLs under /agent/."""

from django.urls import path

from tickets import contacts_views, forward_views, image_views, saved_view_views, views

app_name = "tickets"
urlpatterns = [
    path("", views.ticket_list, name="list"),
    path("tickets/new/", views.ticket_new, name="new"),
    path("tickets/bulk/", views.ticket_bulk, name="bulk"),
    path("tickets/rail/", views.ticket_rail, name="rail"),
    # saved views of the list (tickets.saved_view_views)
    path("tickets/views/", saved_view_views.saved_view_list, name="saved_views"),
    path("tickets/views/new/", saved_view_views.saved_view_new, name="saved_view_new"),
    path("tickets/views/<int:pk>/", saved_view_views.saved_view_edit, name="saved_view_edit"),
    path(
        "tickets/views/<int:pk>/update/",
        saved_view_views.saved_view_save_list,
        name="saved_view_update",
    ),
    path("tickets/views/<int:pk>/move/", saved_view_views.saved_view_move, name="saved_view_move"),
    path(
        "tickets/views/<int:pk>/delete/",
        saved_view_views.saved_view_delete,
        name="saved_view_delete",
    ),
    path("tickets/<int:number>/", views.ticket_detail, name="detail"),
    path("tickets/<int:number>/reply/", views.ticket_reply, name="reply"),
    path("tickets/<int:number>/update/", views.ticket_update, name="update"),
    path("tickets/<int:number>/tags/", views.ticket_tags, name="tags"),
    path("tickets/<int:number>/follow/", views.ticket_follow_toggle, name="follow"),
    path("tickets/<int:number>/comments/<int:pk>/undo/", views.comment_undo, name="comment_undo"),
    path("tickets/<int:number>/held/<int:pk>/", views.held_reply, name="held_reply"),
    path("tickets/<int:number>/preview/", forward_views.reply_preview, name="preview"),
    path("tickets/<int:number>/forward/", forward_views.ticket_forward_view, name="forward"),
    path(
        "tickets/<int:number>/comments/<int:pk>/visibility/",
        views.comment_visibility,
        name="comment_visibility",
    ),
    path(
        "tickets/<int:number>/attachments/<int:pk>/",
        views.attachment_download,
        name="attachment",
    ),
    path("tickets/<int:number>/canned/<int:pk>/", views.canned_render, name="canned"),
    path(
        "tickets/<int:number>/comments/<int:pk>/images/",
        image_views.comment_images,
        name="comment_images",
    ),
    path(
        "tickets/<int:number>/comments/<int:pk>/images/always/",
        image_views.comment_images_always,
        name="comment_images_always",
    ),
    path(
        "tickets/<int:number>/comments/<int:pk>/frame/",
        image_views.comment_frame,
        name="comment_frame",
    ),
    # contacts, customers, merging and splitting (tickets.contacts_views)
    path("tickets/<int:number>/merge/", contacts_views.ticket_merge_view, name="merge"),
    path(
        "tickets/<int:number>/comments/<int:comment_pk>/split/",
        contacts_views.ticket_split_view,
        name="split",
    ),
    path("contacts/", contacts_views.contact_list, name="contacts"),
    path("contacts/new/", contacts_views.contact_new, name="contact_new"),
    path("contacts/<int:pk>/", contacts_views.contact_detail, name="contact"),
    path("contacts/<int:pk>/edit/", contacts_views.contact_edit, name="contact_edit"),
    path(
        "contacts/<int:pk>/addresses/", contacts_views.contact_address_add, name="contact_address"
    ),
    path(
        "contacts/<int:pk>/addresses/<int:address_pk>/remove/",
        contacts_views.contact_address_remove,
        name="contact_address_remove",
    ),
    path("contacts/<int:pk>/merge/", contacts_views.contact_merge_view, name="contact_merge"),
    path("customers/", contacts_views.customer_list, name="customers"),
    path("customers/new/", contacts_views.customer_new, name="customer_new"),
    path("customers/<int:pk>/", contacts_views.customer_detail, name="customer"),
    path("customers/<int:pk>/edit/", contacts_views.customer_edit, name="customer_edit"),
    path("customers/<int:pk>/domains/", contacts_views.customer_domain_add, name="customer_domain"),
    path(
        "customers/<int:pk>/domains/<int:domain_pk>/remove/",
        contacts_views.customer_domain_remove,
        name="customer_domain_remove",
    ),
]
