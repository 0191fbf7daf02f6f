"""The Socket.IO Admin UI at the door: off by default; when configured, its namespace admits
only its credentials, and the vendored UI, in a real browser, shows the connected sockets
and their rooms."""
import http.client
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import socketio

from services.realtime import rooms
from tests.support.api import Api, Campus
from tests.support.sockets import SocketClient
from tests.support.stack import own_vhost, running_stack
from tests.stack.test_dashboard import browser  # noqa: F401  (the headless Chromium fixture)

ROOT = Path(__file__).resolve().parents[2]
NPM_UI = ROOT / "tests" / "js" / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
MDI = ROOT / "tests" / "js" / "node_modules" / "@mdi" / "font"
VENDORED_UI = ROOT / "services" / "realtime" / "static" / "admin"
ADMIN = {"username": "operator", "password": "a long admin passphrase"}


@pytest.fixture(scope="module")
def admin_stack(key_files, tmp_path_factory):
    """A stack of its own whose doors run the Admin UI in development mode."""
    with own_vhost() as amqp_uri, running_stack(
            amqp_uri, key_files, tmp_path_factory.mktemp("admin"), ADMIN_UI_USERNAME=ADMIN["username"],
            ADMIN_UI_PASSWORD=ADMIN["password"], ADMIN_UI_MODE="development") as stack:
        yield stack


def status_of(url, path):
    address = urlparse(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.request("GET", path)
    answer = connection.getresponse()
    return answer.status, answer.getheader("Content-Type"), answer.read()


def admin_client(url, auth):
    """A python-socketio client of the admin namespace, recording what it is sent."""
    client = socketio.Client(reconnection=False)
    client.received = {}
    client.on("*", lambda event, *data: client.received.setdefault(event, []).append(data), namespace="/admin")
    client.connect(url, namespaces=["/admin"], auth=auth, transports=["websocket"], wait_timeout=10)
    return client


def test_off_by_default_no_namespace_and_no_files(stack):
    status, _, _ = status_of(stack.url, "/admin/")
    assert status == 404
    with pytest.raises(socketio.exceptions.ConnectionError):
        admin_client(stack.url, ADMIN)


def test_the_vendored_ui_is_the_npm_package_s():
    assert NPM_UI.exists() and MDI.exists(), "run `make test` (npm ci --prefix tests/js)"
    npm_files = {p.relative_to(NPM_UI) for p in NPM_UI.rglob("*") if p.is_file() and p.suffix != ".map"}
    icons = {Path("mdi/css/materialdesignicons.min.css"): MDI / "css" / "materialdesignicons.min.css",
             Path("mdi/fonts/materialdesignicons-webfont.woff2"): MDI / "fonts" / "materialdesignicons-webfont.woff2"}
    vendored = {p.relative_to(VENDORED_UI) for p in VENDORED_UI.rglob("*") if p.is_file()}
    assert vendored - {Path("LICENSE"), Path("mdi/LICENSE")} == npm_files | set(icons), \
        "refresh it with `make vendor-admin-ui`"
    for name in npm_files - {Path("index.html")}:
        assert (VENDORED_UI / name).read_bytes() == (NPM_UI / name).read_bytes(), name
    for name, source in icons.items():
        assert (VENDORED_UI / name).read_bytes() == source.read_bytes(), name
    # the index loads the icons from the door instead of a CDN, no web font; nothing else changed
    original = (NPM_UI / "index.html").read_text()
    fonts = re.search(r'<link rel="stylesheet" href="https://fonts.googleapis.com/[^"]*">', original).group()
    expected = original.replace(fonts, "").replace("https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/", "mdi/css/")
    assert (VENDORED_UI / "index.html").read_text() == expected and "https://" not in expected


def test_the_namespace_admits_only_the_configured_credentials(admin_stack):
    for wrong in ({"username": ADMIN["username"], "password": "guess"}, {"username": "admin"}, None):
        with pytest.raises(socketio.exceptions.ConnectionError):
            admin_client(admin_stack.url, wrong)


def test_the_admin_namespace_lists_sockets_with_their_rooms_and_no_secrets(admin_stack):
    api, campus = Api(admin_stack.url), Campus(Api(admin_stack.url))
    course, _ = campus.course()
    student = campus.enrolled_student(course)
    token = student["access_token"]
    watcher = SocketClient(admin_stack.url)
    watcher.sio.connect(admin_stack.url, transports=["websocket"], wait_timeout=10,
                        headers={"Authorization": f"Bearer {token}"})
    admin = None
    try:
        watcher.wait_for("connected")
        watcher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
        admin = admin_client(admin_stack.url, ADMIN)
        admin.sleep(1)
        (config,), = admin.received["config"]
        assert {"EMIT", "JOIN", "ALL_EVENTS"} <= set(config["supportedFeatures"])  # development mode
        (sockets,), = admin.received["all_sockets"]
        mine = next(s for s in sockets if s["id"] == watcher.sio.get_sid())
        assert rooms.course_room(course["id"]) in mine["rooms"]
        assert mine["handshake"]["headers"]["authorization"] == "[redacted]"
        assert token not in repr(admin.received)
    finally:
        watcher.close()
        if admin is not None:
            admin.disconnect()
    assert api.call("GET", "/health/ready").status_code == 200


def icon_font_loaded(driver):
    return driver.execute_script(
        "return [...document.fonts].some(f => f.family.includes('Material Design Icons') && f.status === 'loaded')")


def test_in_a_browser_the_operator_logs_in_and_sees_the_sockets_and_their_rooms(admin_stack, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    campus = Campus(Api(admin_stack.url))
    course, _ = campus.course()
    student = campus.enrolled_student(course)
    watcher = SocketClient(admin_stack.url).connect(auth={"token": student["access_token"]})
    try:
        watcher.wait_for("connected")
        watcher.sio.call("join_course", {"course_id": course["id"]}, timeout=5)
        sid, room = watcher.sio.get_sid(), rooms.course_room(course["id"])

        driver = browser("operator")
        wait = WebDriverWait(driver, 20)
        driver.get(f"{admin_stack.url}/admin/")

        def field(label):
            return wait.until(lambda d: d.find_element(
                By.XPATH, f"//label[normalize-space()='{label}']/following-sibling::input"))

        field("Server URL").send_keys(admin_stack.url)
        field("Username").send_keys(ADMIN["username"])
        field("Password").send_keys(ADMIN["password"])
        driver.find_element(By.XPATH, "//button[normalize-space()='Connect']").click()
        wait.until(lambda d: "Status: CONNECTED" in d.find_element(By.TAG_NAME, "body").text.replace("\n", " "))

        # its icons come from the door too (the vendored icon font), not from a CDN
        wait.until(icon_font_loaded)
        driver.get(f"{admin_stack.url}/admin/#/sockets/")
        wait.until(lambda d: sid in d.find_element(By.TAG_NAME, "body").text)
        driver.get(f"{admin_stack.url}/admin/#/rooms/")
        wait.until(lambda d: room in d.find_element(By.TAG_NAME, "body").text)
    finally:
        watcher.close()
