"""Pages people see: where ``/`` sends them."""


def test_root_sends_people_to_the_frontend_once_one_is_configured(client, settings):
    settings.FRONTEND_ORIGINS = ["https://ventures.test", "https://beta.ventures.test"]
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "https://ventures.test/"


def test_root_sends_people_to_the_frontend_whatever_its_trailing_slash(
    client, settings
):
    settings.FRONTEND_ORIGINS = ["https://ventures.test/"]
    assert client.get("/")["Location"] == "https://ventures.test/"


def test_root_without_a_frontend_sends_people_to_the_login_page(client, settings):
    settings.FRONTEND_ORIGINS = []
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login"
