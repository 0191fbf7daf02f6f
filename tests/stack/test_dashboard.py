"""The dashboard page: served safely by the door, and live in a real browser.

Headless Chromium from Debian (``make test`` installs ``chromium`` and ``chromium-driver``
when missing), driven by Selenium. An instructor and a student each get their own
browser profile; the instructor's page must show the student's enrollment, and their
progress, without a reload. The instructor also reads a video's chat and moderates it
(delete, mute), and sees how many watch each video; the students there are Socket.IO
clients, so what the page did is checked where it lands.
"""
import http.client
import os
import time
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

    def watching(self, video_id):
        """The video's "Watching" cell: a number, or "–" while unknown."""
        return self.find(f'.watching[data-video-id="{video_id}"]').text

    def open_chat(self, video_id):
        self.find(f'#video-table tr[data-video-id="{video_id}"] button').click()
        self.wait(lambda d: self.find("#chat").is_displayed())

    def chat_ids(self):
        # read in one go in the page: a message may be removed between finding it and reading it
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#chat-log li[data-message-id]')].map((li) => li.dataset.messageId)")

    def message(self, message_id):
        return self.find(f'#chat-log li[data-message-id="{message_id}"]')


def say(client, video_id, text):
    return client.sio.call("send_chat_message", {"video_id": video_id, "message": text, "timestamp": 1}, timeout=10)


def wait_stored(api, session, video_id, message_id, timeout=15):
    """Storing is asynchronous by design: until the history has the message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = api.call("GET", f"/api/v1/videos/{video_id}/messages", token=session["access_token"]).json()
        if message_id in [m["id"] for m in page["data"]]:
            return
        time.sleep(0.1)
    raise AssertionError(f"message {message_id} not stored within {timeout}s")


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

    # the student chats in the video the instructor has open
    teacher.open_chat(video_id)
    learner.find("#video-list li button:nth-of-type(2)").click()  # "Chat"
    learner.wait(lambda d: learner.find("#chat").is_displayed())
    learner.find("#chat-input").send_keys("Is the quiz on chapter two?")
    learner.find("#chat-form button[type=submit]").click()
    teacher.wait(lambda d: "Is the quiz on chapter two?" in teacher.find("#chat-log").text)
    teacher.wait(lambda d: teacher.watching(video_id) == "2")  # the student and the instructor
    teacher.driver.set_window_size(1280, 1500)  # the whole page in the picture
    teacher.driver.save_screenshot(str(screenshot))


def test_the_instructor_reads_a_video_s_chat_deletes_a_message_and_mutes_its_author(
        stack, api, campus, browser, connect):
    course, instructor = campus.course(videos=2)
    student = campus.enrolled_student(course)
    video_id = course["videos"][1]["id"]
    speaker = connect(student)
    assert "code" not in speaker.sio.call("join_video", {"video_id": video_id}, timeout=10)
    earlier = say(speaker, video_id, "said before the instructor came")
    wait_stored(api, student, video_id, earlier["id"])

    teacher = Dashboard(browser("instructor"), stack.url)
    teacher.log_in(instructor["user"]["email"], "correct horse battery")
    teacher.choose(course["id"])
    teacher.open_chat(video_id)
    # history from joined_video's recent_messages, then the room live
    teacher.wait(lambda d: teacher.chat_ids() == [earlier["id"]])
    assert "said before the instructor came" in teacher.message(earlier["id"]).text
    live = [say(speaker, video_id, text) for text in ("typo", "rude words")]
    teacher.wait(lambda d: teacher.chat_ids() == [earlier["id"]] + [m["id"] for m in live])

    # the instructor's delete button: gone from the page, and the room is told
    teacher.message(earlier["id"]).find_element("css selector", "button.delete").click()
    teacher.wait(lambda d: earlier["id"] not in teacher.chat_ids())
    assert speaker.wait_for("chat_message_deleted")[0]["id"] == earlier["id"]
    # the author deletes their own through the API: the page hears chat_message_deleted
    deleted = api.call("DELETE", f"/api/v1/videos/{video_id}/messages/{live[0]['id']}",
                       token=student["access_token"])
    assert deleted.status_code == 200, deleted.text
    teacher.wait(lambda d: teacher.chat_ids() == [live[1]["id"]])

    # the mute button: the author's next message is refused with code muted (within a second)
    teacher.message(live[1]["id"]).find_element("css selector", "button.mute").click()
    teacher.wait(lambda d: f"{student['user']['email']} is muted until" in teacher.find("#chat-log").text)
    # (the mute reaches the doors as an event: a message sent before it arrived is accepted)
    deadline, accepted = time.monotonic() + 1.0, []
    while (answer := say(speaker, video_id, "and more")).get("code") != "muted" and time.monotonic() < deadline:
        accepted.append(answer["id"])
        time.sleep(0.05)
    assert answer["code"] == "muted" and answer["event"] == "send_chat_message" and answer["until"]
    # the page shows what was accepted, and nothing the student tried once muted
    teacher.wait(lambda d: teacher.chat_ids() == [live[1]["id"]] + accepted)
    refused = [say(speaker, video_id, "still trying") for _ in range(3)]
    assert all(answer["code"] == "muted" for answer in refused)
    time.sleep(0.5)
    assert teacher.chat_ids() == [live[1]["id"]] + accepted


def test_the_instructor_sees_how_many_watch_each_video(stack, campus, browser, connect):
    course, instructor = campus.course(videos=2)
    first, second = (video["id"] for video in course["videos"])
    students = [campus.enrolled_student(course) for _ in range(2)]
    teacher = Dashboard(browser("instructor"), stack.url)
    teacher.log_in(instructor["user"]["email"], "correct horse battery")
    teacher.choose(course["id"])
    assert teacher.watching(first) == teacher.watching(second) == "–"  # nothing known yet

    # two students in the first video, one of them in two tabs: two watching (video_presence)
    tabs = [connect(session) for session in (students[0], students[0], students[1])]
    for tab in tabs:
        assert "code" not in tab.sio.call("join_video", {"video_id": first}, timeout=10)
    teacher.wait(lambda d: teacher.watching(first) == "2")
    for tab in tabs[1:]:  # the second tab, then the other student, go: one left
        tab.close()
    teacher.wait(lambda d: teacher.watching(first) == "1")
    # opening a chat joins its room: joined_video counts the instructor
    teacher.open_chat(second)
    teacher.wait(lambda d: teacher.watching(second) == "1")
    assert teacher.watching(first) == "1"
