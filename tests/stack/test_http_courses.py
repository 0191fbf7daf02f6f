"""The courses rows of API.md, through the door on the real stack."""
import uuid

import pytest


def test_course_lifecycle(api, campus):
    instructor = api.new_user("instructor")
    token = instructor["access_token"]
    created = api.call("POST", "/api/v1/courses", token=token, json={"title": "Go", "description": "Channels"})
    assert created.status_code == 201
    course = created.json()["data"]
    assert {k: course[k] for k in ("title", "description", "instructor_id", "published", "average_rating",
                                   "review_count", "videos")} == {
        "title": "Go", "description": "Channels", "instructor_id": instructor["user"]["id"], "published": False,
        "average_rating": None, "review_count": 0, "videos": []}
    uuid.UUID(course["id"])

    video = api.call("POST", f"/api/v1/courses/{course['id']}/videos", token=token,
                     json={"title": "Goroutines", "duration_seconds": 420})
    assert video.status_code == 201
    assert set(video.json()["data"]) >= {"id", "course_id", "title", "duration_seconds", "position"}

    stranger = api.new_user()
    assert api.call("GET", f"/api/v1/courses/{course['id']}", token=stranger["access_token"]).status_code == 404
    published = api.call("PATCH", f"/api/v1/courses/{course['id']}", token=token, json={"published": True})
    assert published.status_code == 200 and published.json()["data"]["published"] is True
    seen = api.call("GET", f"/api/v1/courses/{course['id']}")  # anonymous
    assert seen.status_code == 200 and seen.json()["data"]["videos"][0]["title"] == "Goroutines"


def test_listing_is_paged(api, campus):
    instructor = api.new_user("instructor")
    for n in range(3):
        campus.course(instructor=instructor, videos=0, title=f"Course {n}")
    mine = api.call("GET", "/api/v1/courses?limit=2&offset=0", token=instructor["access_token"]).json()
    assert len(mine["data"]) == 2 and mine["meta"]["limit"] == 2 and mine["meta"]["offset"] == 0
    assert mine["meta"]["total"] >= 3
    for bad in ("limit=0", "limit=101", "limit=abc", "offset=-1"):
        response = api.call("GET", f"/api/v1/courses?{bad}")
        assert response.status_code == 422 and bad.split("=")[0] in response.json()["error"]["message"]


def test_enrollment_rules(api, campus):
    course, instructor = campus.course()
    student = api.new_user()
    path = f"/api/v1/courses/{course['id']}/enrollments"
    assert api.call("POST", path).status_code == 401
    first = api.call("POST", path, token=student["access_token"])
    assert first.status_code == 201 and first.json()["data"]["email"] == student["user"]["email"]
    again = api.call("POST", path, token=student["access_token"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert api.call("POST", path, token=instructor["access_token"]).status_code == 403
    listed = api.call("GET", path, token=instructor["access_token"]).json()
    assert [(e["user_id"], e["email"]) for e in listed["data"]] == [(student["user"]["id"], student["user"]["email"])]
    assert "enrolled_at" in listed["data"][0] and listed["meta"]["total"] == 1
    assert api.call("GET", path, token=student["access_token"]).status_code == 403
    draft, _ = campus.course(published=False)
    assert api.call("POST", f"/api/v1/courses/{draft['id']}/enrollments",
                    token=student["access_token"]).status_code == 404


def test_reviews(api, campus):
    course, _ = campus.course()
    ann, bob = campus.enrolled_student(course), campus.enrolled_student(course)
    path = f"/api/v1/courses/{course['id']}/reviews"
    assert api.call("POST", path, token=ann["access_token"], json={"rating": 4, "comment": "Good"}).status_code == 201
    assert api.call("POST", path, token=bob["access_token"], json={"rating": 5, "comment": "Great"}).status_code == 201
    dup = api.call("POST", path, token=ann["access_token"], json={"rating": 1, "comment": "again"})
    assert dup.status_code == 409
    outsider = api.new_user()
    assert api.call("POST", path, token=outsider["access_token"], json={"rating": 5}).status_code == 403
    for body, field in (({"rating": 6}, "rating"), ({"rating": "5"}, "rating"), ({"rating": True}, "rating"),
                        ({"comment": "no rating"}, "rating"), ({"rating": 3, "comment": "x" * 5001}, "comment")):
        response = api.call("POST", path, token=bob["access_token"], json=body)
        assert response.status_code == 422 and field in response.json()["error"]["message"], body
    listed = api.call("GET", path).json()
    assert [r["user_email"] for r in listed["data"]] == [bob["user"]["email"], ann["user"]["email"]]
    again = api.call("GET", f"/api/v1/courses/{course['id']}").json()["data"]
    assert again["average_rating"] == 4.5 and again["review_count"] == 2


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/v1/courses/{id}/videos", {"title": "x", "duration_seconds": 10}),
    ("PATCH", "/api/v1/courses/{id}", {"title": "mine"}),
    ("GET", "/api/v1/courses/{id}/enrollments", None),
])
def test_instructor_only_routes(api, campus, method, path, body):
    course, _ = campus.course()
    path = path.format(id=course["id"])
    assert api.call(method, path, json=body).status_code == 401
    for someone in (api.new_user(), api.new_user("instructor"), campus.enrolled_student(course)):
        assert api.call(method, path, token=someone["access_token"], json=body).status_code == 403


def test_bad_input_and_unknown_ids(api):
    instructor = api.new_user("instructor")
    token = instructor["access_token"]
    assert api.call("POST", "/api/v1/courses", token=token, json={"title": ""}).status_code == 422
    assert api.call("POST", "/api/v1/courses", token=token, json={}).status_code == 422
    assert api.call("POST", "/api/v1/courses", token=api.new_user()["access_token"],
                    json={"title": "x"}).status_code == 403
    for course_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = api.call("GET", f"/api/v1/courses/{course_id}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    patch_null = api.call("PATCH", "/api/v1/courses/00000000-0000-0000-0000-000000000000", token=token,
                          json={"title": None})
    assert patch_null.status_code == 422
