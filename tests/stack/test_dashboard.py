"""The dashboard page: served safely by the door, and live in a real browser.

Headless Chromium from Debian (``make test`` installs ``chromium`` and ``chromium-driver``
when missing), driven by Selenium. An instructor and a student each get their own
browser profile; the instructor's page must show the student's enrollment, and their
progress, without a reload.
"""
import http.client
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,900"]


def raw_get(stack, path):
    """GET with the path exactly as written (``requests`` would normalise the ``..``)."""
    address = urlparse(stack.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.request("GET", path)
    answer = connection.getresponse()
    return answer.status, answer.getheader("Content-Type"), answer.read()


@pytest.mark.parametrize("path, content_type", [
    ("/dashboard", "text/html"),
    ("/static/dashboard.js", "text/javascript"),
    ("/static/dashboard.css", "text/css"),
    ("/static/vendor/socket.io.min.js", "text/javascript"),
])
def test_the_page_and_its_files_are_served_with_their_types(stack, path, content_type):
    status, served_type, body = raw_get(stack, path)
    assert status == 200 and served_type.startswith(content_type) and body


@pytest.mark.parametrize("path", ["/static/../door.py", "/static/%2e%2e/door.py", "/static/..%2fdoor.py",
                                  "/static/vendor/../../service.py", "/static//etc/passwd", "/static/missing.js"])
def test_nothing_outside_the_static_folder_is_served(stack, path):
    status, _, body = raw_get(stack, path)
    assert status == 404 and b"import" not in body and b"root:" not in body


def test_the_vendored_socket_io_bundle_is_the_npm_package_s():
    npm_bundle = ROOT / "tests" / "js" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
    assert npm_bundle.exists(), "run `make test` (npm ci --prefix tests/js)"
    vendored = ROOT / "services" / "realtime" / "static" / "vendor" / "socket.io.min.js"
    assert vendored.read_bytes() == npm_bundle.read_bytes(), "refresh it with `make vendor-socketio`"


# -- in a browser --------------------------------------------------------------------------

@pytest.fixture
def browser(tmp_path):
    """``browser(name)`` -> a headless Chromium with a fresh profile of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `make test` installs chromium and chromium-driver")
    opened = []

    def open_browser(name):
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / name}"]:
            options.add_argument(flag)
        opened.append(webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options))
        return opened[-1]

    yield open_browser
    for driver in opened:
        driver.quit()


class Dashboard:
    """One person's dashboard tab, in the words of the page."""

    def __init__(self, driver, url):
        self.driver, self.url = driver, url

    def wait(self, condition, timeout=15):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(lambda d: condition(d))

    def find(self, css):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def log_in(self, email, password):
        self.driver.get(f"{self.url}/dashboard")
        self.find("#email").send_keys(email)
        self.find("#password").send_keys(password)
        self.find("#login-form button[type=submit]").click()
        self.wait(lambda d: self.find("#course-picker").is_displayed())
        self.wait(lambda d: self.find("#connection").text.startswith("Live"))

    def choose(self, course_id, button="#open-course"):
        from selenium.webdriver.support.ui import Select

        self.wait(lambda d: d.find_elements("css selector", f'#course-select option[value="{course_id}"]'))
        Select(self.find("#course-select")).select_by_value(course_id)
        self.find(button).click()
        self.wait(lambda d: "following" in self.find("#connection").text)

    def progress(self, user_id, video_id):
        return float(self.find(f'progress[data-user-id="{user_id}"][data-video-id="{video_id}"]')
                     .get_attribute("value"))


def test_the_instructor_sees_a_student_enroll_and_progress_live(stack, api, campus, browser, tmp_path):
    password = "correct horse battery"  # what the Api fixture registers everyone with
    course, instructor = campus.course(videos=2, title="Realtime Systems")
    student_email, _ = api.register("student")
    video_id = course["videos"][0]["id"]

    teacher = Dashboard(browser("instructor"), stack.url)
    teacher.log_in(instructor["user"]["email"], password)
    teacher.choose(course["id"])
    assert teacher.find("#instructor-view").is_displayed()

    learner = Dashboard(browser("student"), stack.url)
    learner.log_in(student_email, password)
    learner.choose(course["id"], button="#enroll")
    assert learner.find("#student-view").is_displayed()

    # the enrollment reaches the instructor's open page: no reload
    teacher.wait(lambda d: student_email in teacher.find("#progress-table tbody").text)
    assert f"{student_email} enrolled in the course" in teacher.find("#activity").text
    screenshot = Path(os.environ.get("DASHBOARD_SCREENSHOT", tmp_path / "dashboard.png"))

    learner.find("#video-list li button").click()  # "Watch": 10 % more every second
    student_id = teacher.find("#progress-table tbody tr").get_attribute("data-user-id")
    teacher.wait(lambda d: teacher.progress(student_id, video_id) >= 30, timeout=20)
    teacher.driver.save_screenshot(str(screenshot))
