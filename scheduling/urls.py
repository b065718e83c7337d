from django.urls import path

from scheduling import views

urlpatterns = [
    path("book/<str:token>/", views.book, name="book"),
]
