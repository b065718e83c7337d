from django.urls import path

from upgrades.views import checklist, conversation, events, lab, releases, requests, run_log, runs

urlpatterns = [
    path("releases/", releases.release_list, name="release-list"),
    path("releases/<str:version>/", releases.release_detail, name="release-detail"),
    path("releases/<str:version>/publish/", releases.release_publish, name="release-publish"),
    path("deployments/<int:pk>/changes/<str:version>/", releases.deployment_changes, name="deployment-changes"),
    path("deployments/<int:pk>/upgrade/", requests.request_create, name="request-create"),
    path("requests/", requests.request_list, name="request-list"),
    path("requests/<int:pk>/", requests.request_detail, name="request-detail"),
    path("requests/<int:pk>/messages/", conversation.conversation_post, name="conversation-post"),
    path("mail/inbound/", conversation.mail_inbound, name="mail-inbound"),
    path("requests/<int:pk>/<slug:action>/", requests.request_action, name="request-action"),
    path("support/waiting/", requests.waiting_for_me, name="waiting-for-me"),
    path("items/<int:pk>/", checklist.item_detail, name="item-detail"),
    path("items/<int:pk>/provide/", checklist.item_provide, name="item-provide"),
    path("items/<int:pk>/review/<slug:verdict>/", checklist.item_review, name="item-review"),
    path("attachments/<int:pk>/", checklist.attachment_download, name="attachment-download"),
    path("attachments/<int:pk>/delete/", checklist.attachment_delete, name="attachment-delete"),
    path("deployments/<int:pk>/lab/", lab.lab_fleet, name="lab-fleet"),
    path("deployments/<int:pk>/lab/faults/", lab.lab_fault, name="lab-fault"),
    # A run's live events: SSE (async, uvicorn) and the JSON the page polls without SSE.
    path("runs/<int:pk>/events/", events.run_events, name="run-events"),
    path("runs/<int:pk>/events.json", events.run_events_poll, name="run-events-poll"),
    # The live upgrade: one page for the engineer and the customer, its actions, the report.
    path("runs/<int:pk>/", runs.run_live, name="run-live"),
    path("runs/<int:pk>/act/<slug:action>/", runs.run_action, name="run-action"),
    path("runs/<int:pk>/report/", runs.run_report, name="run-report"),
    path("runs/<int:pk>/report.pdf", runs.run_report_pdf, name="run-report-pdf"),
    # Its deployment log beyond the live page's tail: pages, search, the whole as text.
    path("runs/<int:pk>/log/", run_log.run_log, name="run-log"),
    path("runs/<int:pk>/log/search/", run_log.run_log_search, name="run-log-search"),
    path("runs/<int:pk>/log.txt", run_log.run_log_download, name="run-log-download"),
]
