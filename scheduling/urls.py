from django.urls import path

from scheduling.views import booking

urlpatterns = [
    path("book/<str:token>/", booking.book, name="book"),
]
