from django.urls import path

from scheduling.views import booking, cloud, demo, feeds, notices, status, usage, windows

urlpatterns = [
    path("book/<str:token>/", booking.book, name="book"),
    path("releases/<str:version>/cloud-plan/", cloud.cloud_plan, name="cloud-plan"),
    path("windows/", windows.windows, name="windows"),
    path("my-windows/", windows.my_windows, name="my-windows"),
    path("windows/<int:pk>/", windows.window_detail, name="window-detail"),
    path("windows/<int:pk>/act/<slug:action>/", windows.window_action, name="window-action"),
    path("windows/<int:pk>/notice.txt", notices.window_notice, name="window-notice"),
    path("windows/<int:pk>/invite.ics", notices.window_ics, name="window-ics"),
    path("demo/rearm/", demo.demo_rearm_page, name="demo-rearm"),
    path("organisations/<slug:slug>/low-usage-hours/", usage.low_usage_hours, name="low-usage-hours"),
    path("deployments/<int:pk>/status-page/", status.status_settings, name="status-settings"),
    path("deployments/<int:pk>/status-page/rotate/", status.status_rotate, name="status-rotate"),
    # The public status page and its feeds: the token is the address.
    path("status/<str:token>/", status.status_page, name="status-page"),
    path("status/<str:token>/feed.atom", status.status_feed, name="status-feed"),
    path("status/<str:token>/calendar.ics", status.status_calendar, name="status-calendar"),
    path("status/<str:token>/subscribe/", status.status_subscribe, name="status-subscribe"),
    path("subscriptions/<str:token>/confirm/", status.status_confirm, name="status-confirm"),
    path("subscriptions/<str:token>/unsubscribe/", status.status_unsubscribe, name="status-unsubscribe"),
    # A person's own calendar feed: its page, and the feed at its key (the key is the credential).
    path("account/calendar/", feeds.calendar_settings, name="calendar-settings"),
    path("account/calendar/new/", feeds.calendar_make, name="calendar-make"),
    path("account/calendar/revoke/", feeds.calendar_revoke, name="calendar-revoke"),
    path("calendar/<str:key>.ics", feeds.calendar_feed, name="calendar-feed"),
]
