"""The HTTP API of API.md as an OpenAPI 3.1 document (served at ``/api/v1/openapi.json``).

Nothing here is a hand-written JSON Schema: request bodies are the very models the door
validates with (``schemas.py``), and the answers are described by the pydantic models
below, so pydantic emits every schema. What is maintained by hand is the list of
``ROUTES``: who may call each one, its status, what it answers and how it fails.
``tests/contract/test_openapi.py`` keeps that list equal to the door's ``@api`` routes.

OpenAPI 3.1 uses JSON Schema 2020-12, which is what pydantic emits.
"""
from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from services.realtime import schemas

REF = "#/components/schemas/{model}"


# -- the shapes of what the door answers (inside {"data": ...}) -------------------------

class Answer(BaseModel):
    # answers may grow fields; clients must ignore what they do not know
    model_config = ConfigDict(extra="allow")


class User(Answer):
    id: str
    email: str
    role: Literal["student", "instructor"]
    created_at: str = Field(description="ISO 8601 UTC")


class UserAnswer(Answer):
    user: User


class Session(Answer):
    access_token: str = Field(description="JWT (EdDSA), 15 minutes by default")
    refresh_token: str = Field(description="opaque; rotated on use, so store the new one")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds until the access token expires")
    user: User


class LoggedOut(Answer):
    revoked_refresh_tokens: int


class Video(Answer):
    id: str
    course_id: str
    title: str
    duration_seconds: int
    position: int


class Course(Answer):
    id: str
    title: str
    description: str | None
    instructor_id: str
    published: bool
    average_rating: float | None
    review_count: int
    videos: list[Video] = Field(default=[], description="in order; only in single-course answers")


class Enrollment(Answer):
    id: str
    course_id: str
    user_id: str
    email: str
    enrolled_at: str


class Review(Answer):
    id: str
    course_id: str
    user_id: str
    user_email: str
    rating: int = Field(ge=1, le=5)
    comment: str
    created_at: str


class VideoProgress(Answer):
    video_id: str
    watched_seconds: float = Field(description="position reached, in seconds; never goes back")
    percent_complete: float = Field(ge=0, le=100)
    completed: bool = Field(description="true from 90 %")


class AcceptedProgress(Answer):
    """A report as the door accepted it (what the instructor room gets as student_progress)."""

    user_id: str
    video_id: str
    course_id: str
    progress: float = Field(ge=0, le=100)
    timestamp: float = Field(ge=0)


class CourseProgress(Answer):
    course_id: str
    course_percent_complete: float = Field(ge=0, le=100)
    videos: list[VideoProgress]


class StudentProgress(CourseProgress):
    user_id: str


class Question(Answer):
    prompt: str
    choices: list[str]
    correct_choice: int | None = Field(default=None, description="only to the course's instructor")


class Quiz(Answer):
    id: str
    course_id: str
    title: str
    passing_score: float = Field(ge=0, le=100)
    max_attempts: int | None
    questions: list[Question]


class Submission(Answer):
    id: str
    quiz_id: str
    score: float = Field(ge=0, le=100)
    passed: bool
    attempt: int


class Status(Answer):
    status: str


class Meta(BaseModel):
    total: int
    limit: int
    offset: int


class ErrorDetail(BaseModel):
    code: str = Field(description="validation_failed, missing_parameters, bad_request, unauthorized, "
                                  "token_expired, forbidden, not_found, conflict, rate_limited, unavailable")
    message: str = Field(description="for people; names the offending field on bad input")


class ErrorAnswer(BaseModel):
    error: ErrorDetail


# -- the routes ------------------------------------------------------------------

ANYONE, USER, STUDENT, INSTRUCTOR = "anyone", "user", "student", "instructor"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    who: str
    answer: type | None = None
    body: type | None = None
    status: int = 200
    listing: bool = False
    errors: tuple = ()
    tag: str = "courses"
    description: str = ""


ROUTES = (
    Route("GET", "/health/live", "The door process is up", ANYONE, Status, tag="health"),
    Route("GET", "/health/ready", "The broker and every backing service answer", ANYONE, Status,
          errors=(503,), tag="health"),
    Route("GET", "/metrics", "Prometheus metrics of this door replica", ANYONE, tag="health",
          description="Prometheus text format, not wrapped in {data}; the Kubernetes Ingress does not route it."),
    Route("GET", "/api/v1/openapi.json", "This document", ANYONE, tag="docs",
          description="The OpenAPI document itself, not wrapped in {data}."),

    Route("POST", "/api/v1/auth/register", "Create an account", ANYONE, UserAnswer, schemas.RegisterBody,
          201, errors=(400, 409, 422, 429, 503), tag="auth"),
    Route("POST", "/api/v1/auth/login", "Log in: an access token and a refresh token", ANYONE, Session,
          schemas.LoginBody, errors=(400, 401, 422, 429, 503), tag="auth"),
    Route("POST", "/api/v1/auth/refresh", "Trade a refresh token for a new pair", ANYONE, Session,
          schemas.RefreshBody, errors=(400, 401, 422), tag="auth",
          description="The old refresh token stops working; reusing it revokes the whole session."),
    Route("POST", "/api/v1/auth/logout", "Revoke the refresh tokens of this session", USER, LoggedOut,
          errors=(401,), tag="auth"),
    Route("GET", "/api/v1/auth/me", "Who the token belongs to", USER, UserAnswer, errors=(401, 404), tag="auth"),

    Route("POST", "/api/v1/courses", "Create a course (an unpublished draft)", INSTRUCTOR, Course,
          schemas.NewCourse, 201, errors=(400, 401, 403, 422)),
    Route("GET", "/api/v1/courses", "Published courses and the caller's own", ANYONE, Course, listing=True,
          errors=(401, 422)),
    Route("GET", "/api/v1/courses/{course_id}", "One course with its videos in order", ANYONE, Course,
          errors=(401, 404), description="A draft is visible to its instructor only (404 to others)."),
    Route("PATCH", "/api/v1/courses/{course_id}", "Change a course; room event course_updated", INSTRUCTOR,
          Course, schemas.CourseChanges, errors=(400, 401, 403, 404, 422)),
    Route("POST", "/api/v1/courses/{course_id}/videos", "Add a video", INSTRUCTOR, Video, schemas.NewVideo, 201,
          errors=(400, 401, 403, 404, 422),
          description="Appended when position is omitted; a given position shifts later videos down."),
    Route("POST", "/api/v1/courses/{course_id}/enrollments", "Enroll; room event new_enrollment", STUDENT,
          Enrollment, status=201, errors=(401, 403, 404, 409)),
    Route("GET", "/api/v1/courses/{course_id}/enrollments", "The course's students", INSTRUCTOR, Enrollment,
          listing=True, errors=(401, 403, 404, 422)),
    Route("POST", "/api/v1/courses/{course_id}/reviews", "Review a course once; room event new_review", STUDENT,
          Review, schemas.NewReview, 201, errors=(400, 401, 403, 404, 409, 422)),
    Route("GET", "/api/v1/courses/{course_id}/reviews", "Reviews, newest first", ANYONE, Review, listing=True,
          errors=(401, 404, 422)),

    Route("GET", "/api/v1/courses/{course_id}/progress", "The caller's progress per video", STUDENT,
          CourseProgress, errors=(401, 403, 404), tag="progress"),
    Route("GET", "/api/v1/courses/{course_id}/progress/students", "Every student's progress", INSTRUCTOR,
          StudentProgress, listing=True, errors=(401, 403, 404, 422), tag="progress"),
    Route("POST", "/api/v1/videos/{video_id}/progress", "Report progress without a socket", STUDENT,
          AcceptedProgress, schemas.ProgressBody, 202, errors=(400, 401, 403, 404, 422, 429), tag="progress",
          description="The same as the socket event video_progress: accepted at once, stored within one "
                      "flush interval (read it back with GET .../progress); stored progress never goes back."),

    Route("POST", "/api/v1/courses/{course_id}/quizzes", "Create a quiz", INSTRUCTOR, Quiz, schemas.NewQuiz, 201,
          errors=(400, 401, 403, 404, 422), tag="quizzes"),
    Route("GET", "/api/v1/courses/{course_id}/quizzes", "The course's quizzes", USER, Quiz, listing=True,
          errors=(401, 403, 404, 422), tag="quizzes", description="Its instructor and enrolled students."),
    Route("GET", "/api/v1/quizzes/{quiz_id}", "One quiz (students never see correct_choice)", USER, Quiz,
          errors=(401, 403, 404), tag="quizzes"),
    Route("POST", "/api/v1/quizzes/{quiz_id}/submissions", "Answer a quiz; instructor event quiz_submission",
          STUDENT, Submission, schemas.QuizAnswers, 201, errors=(400, 401, 403, 404, 409, 422), tag="quizzes"),
    Route("GET", "/api/v1/quizzes/{quiz_id}/submissions", "Submissions: all to the instructor, own to a student",
          USER, Submission, listing=True, errors=(401, 403, 404, 422), tag="quizzes"),
)

STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 400: "Malformed request (not JSON, too large)",
    401: "No token, or a bad or expired one", 403: "Not allowed for this caller",
    404: "Unknown id", 409: "Conflict (already exists)", 422: "Invalid input; the message names the field",
    429: "Rate limited", 503: "A backing service did not answer in time",
}

WHO_TEXT = {
    ANYONE: "Anyone; a token, if sent, must be valid.",
    USER: "Any logged-in user.",
    STUDENT: "A student (see the summary for the course rules).",
    INSTRUCTOR: "An instructor (of this course, for course routes).",
}


def _operation(route, ref):
    operation = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "description": " ".join(filter(None, [WHO_TEXT[route.who], route.description])),
        "tags": [route.tag],
        "responses": {str(route.status): _success(route, ref)},
    }
    if route.who != ANYONE:
        operation["security"] = [{"bearer": []}]
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in _path_parameters(route.path)]
    if route.listing:
        parameters += [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                        "default": 20}},
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
        ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": ref(route.body)}}}}
    for status in route.errors:
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return operation


def _success(route, ref):
    if route.answer is None:
        return {"description": STATUS_TEXT[route.status], "content": {"application/json": {"schema": {}}}}
    if route.listing:
        data = {"type": "array", "items": {"$ref": ref(route.answer)}}
        schema = {"type": "object", "required": ["data", "meta"],
                  "properties": {"data": data, "meta": {"$ref": ref(Meta)}}}
    else:
        schema = {"type": "object", "required": ["data"], "properties": {"data": {"$ref": ref(route.answer)}}}
    return {"description": STATUS_TEXT[route.status], "content": {"application/json": {"schema": schema}}}


def _path_parameters(path):
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation_id(route):
    words = [p.strip("{}") for p in route.path.split("/") if p and p not in ("api", "v1")]
    return "_".join([route.method.lower()] + [w.replace(".", "_") for w in words])


@cache
def document():
    """The OpenAPI document as a dict (built once per process)."""
    models = {m for r in ROUTES for m in (r.answer, r.body) if m is not None} | {Meta, ErrorAnswer}
    # requests are described as the door validates them, answers as it sends them
    keyed = sorted(((m, "validation" if issubclass(m, schemas.Strict) else "serialization") for m in models),
                   key=lambda pair: pair[0].__name__)
    _, top = models_json_schema(keyed, ref_template=REF)
    components = top.get("$defs", {})

    def ref(model):
        return REF.format(model=model.__name__)

    paths = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, ref)
    responses = {f"E{status}": {"description": text, "content": {
        "application/json": {"schema": {"$ref": ref(ErrorAnswer)}}}}
        for status, text in STATUS_TEXT.items() if status >= 400}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Course platform HTTP API",
            "version": "1",
            "description": "Success is {\"data\": ...}; failure is {\"error\": {\"code\", \"message\"}}. "
                           "The Socket.IO events are described in docs/asyncapi.yaml.",
        },
        "servers": [{"url": "http://localhost:5000", "description": "development (make run)"}],
        "tags": [{"name": name} for name in ("auth", "courses", "progress", "quizzes", "health", "docs")],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": responses,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
