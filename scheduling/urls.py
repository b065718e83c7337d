from django.urls import path

from scheduling.views import booking, cloud, demo, notices, usage, windows

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
]
