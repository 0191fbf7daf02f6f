"""What the door answers, inside ``{"data": ...}``: one pydantic model per shape.

Requests are validated with the models of ``schemas.py``; these describe the answers,
so that ``openapi.py`` can have pydantic emit every schema of the document. Each ``@api``
route names its model (``answer=answers.Course``).
"""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
    access_token: str = Field(description="JWT (RS256, or EdDSA with an Ed25519 key), 15 minutes by default")
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


class ChatMessage(Answer):
    """A stored chat message: the new_chat_message payload."""

    id: str = Field(description="UUIDv7 made by the door: unique, and ordered by time as a string")
    user_id: str
    user_email: str
    message: str
    timestamp: str = Field(description="ISO 8601 UTC, stamped by the door")
    client_timestamp: str | float | None = Field(default=None, description="the sender's own, as sent")
    video_id: str
    course_id: str


class DeletedMessage(Answer):
    id: str
    deleted: Literal[True]


class Mute(Answer):
    course_id: str
    user_id: str
    until: str | None = Field(description="ISO 8601 UTC; null once lifted")


class Status(Answer):
    status: str


class Meta(BaseModel):
    total: int
    limit: int
    offset: int


class CursorMeta(BaseModel):
    limit: int
    before: str | None = Field(description="the message id the page ends before; null: the latest")
    next_before: str | None = Field(description="pass as before for the page before this one; null: none")


class ErrorDetail(BaseModel):
    code: str = Field(description="validation_failed, missing_parameters, bad_request, unauthorized, "
                                  "token_expired, forbidden, not_found, conflict, rate_limited, unavailable")
    message: str = Field(description="for people; names the offending field on bad input")


class ErrorAnswer(BaseModel):
    error: ErrorDetail
