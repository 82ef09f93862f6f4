from django.urls import path

from interviews import views

urlpatterns = [
    path("", views.home, name="home"),
    path("interviews/", views.dashboard, name="dashboard"),
]
