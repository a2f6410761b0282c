import pytest
from django.test import Client

API_HOST = "api.ventures.test"
FRONTEND_ORIGIN = "https://ventures.test"


@pytest.fixture
def client():
    """A browser talking HTTPS to the API host, as in production."""
    return Client(HTTP_HOST=API_HOST, SERVER_PORT="443", **{"wsgi.url_scheme": "https"})
