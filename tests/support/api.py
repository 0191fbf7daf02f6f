"""The door's HTTP API from outside, and the people and courses a scenario needs."""
import concurrent.futures
import uuid

import requests


class Api:
    """``requests`` against the door, with the envelope unwrapped where it helps."""

    def __init__(self, base_url, timeout=15):
        self.base_url = base_url
        self.timeout = timeout
        self.http = requests.Session()

    def call(self, method, path, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs)

    def register(self, role="student", password="correct horse battery"):
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        response = self.call("POST", "/api/v1/auth/register", json={"email": email, "password": password, "role": role})
        assert response.status_code == 201, response.text
        return email, password

    def login(self, email, password):
        response = self.call("POST", "/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def new_user(self, role="student"):
        """Register and log in: the login data (tokens and user)."""
        return self.login(*self.register(role))


class Campus:
    """Builds the people and courses a scenario needs, through the public HTTP API."""

    def __init__(self, api):
        self.api = api

    def course(self, instructor=None, published=True, videos=1, title="Distributed Systems"):
        """(course with its videos, its instructor's login data); a new instructor unless given."""
        instructor = instructor or self.api.new_user("instructor")
        token = instructor["access_token"]
        created = self.api.call("POST", "/api/v1/courses", token=token, json={"title": title})
        assert created.status_code == 201, created.text
        course = created.json()["data"]
        for n in range(videos):
            video = self.api.call("POST", f"/api/v1/courses/{course['id']}/videos", token=token,
                                  json={"title": f"Lecture {n + 1}", "duration_seconds": 600})
            assert video.status_code == 201, video.text
        if published:
            patched = self.api.call("PATCH", f"/api/v1/courses/{course['id']}", token=token, json={"published": True})
            assert patched.status_code == 200, patched.text
        course = self.api.call("GET", f"/api/v1/courses/{course['id']}", token=token).json()["data"]
        return course, instructor

    def enrolled_student(self, course):
        student = self.api.new_user("student")
        self.enroll(course, student["access_token"])
        return student

    def enroll(self, course, token):
        enrolled = self.api.call("POST", f"/api/v1/courses/{course['id']}/enrollments", token=token)
        assert enrolled.status_code == 201, enrolled.text

    def enroll_all(self, course, tokens, workers=6):
        """Enroll the holders of ``tokens`` (minted ones: no login each), ``workers`` at a time."""
        def enroll(token):  # a session per thread: requests' sessions are not shared across threads
            Campus(Api(self.api.base_url, self.api.timeout)).enroll(course, token)

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(enroll, tokens))
