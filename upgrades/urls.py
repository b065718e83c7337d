from django.urls import path

from upgrades import stream, views, views_runs

urlpatterns = [
    path("releases/", views.release_list, name="release-list"),
    path("releases/<str:version>/", views.release_detail, name="release-detail"),
    path("releases/<str:version>/publish/", views.release_publish, name="release-publish"),
    path("deployments/<int:pk>/changes/<str:version>/", views.deployment_changes, name="deployment-changes"),
    path("deployments/<int:pk>/upgrade/", views.request_create, name="request-create"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/<slug:action>/", views.request_action, name="request-action"),
    path("support/waiting/", views.waiting_for_me, name="waiting-for-me"),
    path("items/<int:pk>/", views.item_detail, name="item-detail"),
    path("items/<int:pk>/provide/", views.item_provide, name="item-provide"),
    path("items/<int:pk>/review/<slug:verdict>/", views.item_review, name="item-review"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment-download"),
    path("attachments/<int:pk>/delete/", views.attachment_delete, name="attachment-delete"),
    path("deployments/<int:pk>/lab/", views.lab_fleet, name="lab-fleet"),
    path("deployments/<int:pk>/lab/faults/", views.lab_fault, name="lab-fault"),
    # A run's live events: SSE (async, uvicorn) and the JSON the page polls without SSE.
    path("runs/<int:pk>/events/", stream.run_events, name="run-events"),
    path("runs/<int:pk>/events.json", stream.run_events_poll, name="run-events-poll"),
    # The live upgrade: one page for the engineer and the customer, its actions, the report.
    path("runs/<int:pk>/", views_runs.run_live, name="run-live"),
    path("runs/<int:pk>/act/<slug:action>/", views_runs.run_action, name="run-action"),
    path("runs/<int:pk>/report/", views_runs.run_report, name="run-report"),
    path("runs/<int:pk>/report.pdf", views_runs.run_report_pdf, name="run-report-pdf"),
]
