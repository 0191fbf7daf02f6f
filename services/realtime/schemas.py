"""Shapes of what clients send to the door, and the one way to check them.

Models are strict (``"1"`` is not an integer) and closed (an unknown field is an
error), so a client learns about a typo at once instead of having it ignored. Every
failure names the field: ``{"code": "validation_failed", "message": "rating: ..."}``.
"""
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from services.kernel.errors import BadRequest, MissingParameters, ValidationFailed

MAX_BODY_BYTES = 1024 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=10_000)


class RegisterBody(Strict):
    email: str
    password: str
    role: Literal["student", "instructor"] = "student"


class LoginBody(Strict):
    email: str
    password: str


class RefreshBody(Strict):
    refresh_token: str


class Loose(BaseModel):
    """Socket payloads: strict types, but unknown keys are ignored (clients add metadata)."""

    model_config = ConfigDict(extra="ignore", strict=True, str_max_length=10_000)


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# progress: a percent; position: seconds into the video (its upper bound is the video's own)
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Position = Annotated[float, Field(ge=0, allow_inf_nan=False)]


# -- HTTP bodies ----------------------------------------------------------------

class NewCourse(Strict):
    title: str
    description: str | None = None


class CourseChanges(Strict):
    title: str | None = None
    description: str | None = None
    published: bool | None = None


class NewVideo(Strict):
    title: str
    duration_seconds: int
    position: int | None = None


class NewReview(Strict):
    rating: int
    comment: str = ""


class ProgressBody(Strict):
    progress: Percent
    timestamp: Position
    course_id: Identifier | None = None


class QuizQuestion(Strict):
    prompt: str
    choices: list[str]
    correct_choice: int


class NewQuiz(Strict):
    title: str
    passing_score: float  # strict still takes an int (70), never a bool or "70"
    max_attempts: int | None = None
    questions: list[QuizQuestion]


class QuizAnswers(Strict):
    answers: list[int]


# -- socket payloads --------------------------------------------------------------

class CourseRef(Loose):
    course_id: Identifier


class VideoRef(Loose):
    video_id: Identifier


class ChatMessage(Loose):
    video_id: Identifier
    message: str
    timestamp: str | int | float | None = None


class VideoProgress(Loose):
    video_id: Identifier
    course_id: Identifier
    progress: Percent
    timestamp: Position


class NewMute(Strict):
    user_id: Identifier
    minutes: int


def cursor_params(request, default_limit=50, max_limit=100):
    """``?limit=&before=`` of a history read: a checked limit, and the message id to read before."""
    raw = request.args.get("limit")
    limit = default_limit
    if raw not in (None, ""):
        try:
            limit = int(raw)
        except ValueError:
            raise ValidationFailed("limit: must be a whole number", "limit") from None
        if not 1 <= limit <= max_limit:
            raise ValidationFailed(f"limit: must be from 1 to {max_limit}", "limit")
    before = request.args.get("before") or None
    if before is not None and len(before) > 64:
        raise ValidationFailed("before: must be a message id", "before")
    return limit, before


def page_params(request, default_limit=20, max_limit=100):
    """``?limit=&offset=`` as two checked integers."""
    values = {}
    for name, default, low, high in (("limit", default_limit, 1, max_limit), ("offset", 0, 0, 10**9)):
        raw = request.args.get(name)
        if raw is None or raw == "":
            values[name] = default
            continue
        try:
            values[name] = int(raw)
        except ValueError:
            raise ValidationFailed(f"{name}: must be a whole number", name) from None
        if not low <= values[name] <= high:
            raise ValidationFailed(f"{name}: must be from {low} to {high}", name)
    return values["limit"], values["offset"]


def parse_json_body(request, model):
    """The request's JSON body checked against ``model``; an empty body counts as ``{}``."""
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise BadRequest(f"body: larger than {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=False)
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body: not valid JSON") from None
    return validate(data, model, what="body")


def validate(data, model, what="payload"):
    """``data`` as an instance of ``model``, or a typed error naming the first bad field."""
    if data is None:
        raise MissingParameters(f"{what}: required")
    if not isinstance(data, dict):
        raise ValidationFailed(f"{what}: must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or what
        if error["type"] == "missing":
            missing = [".".join(map(str, e["loc"])) for e in exc.errors() if e["type"] == "missing"]
            raise MissingParameters(f"missing: {', '.join(missing)}", field) from None
        if error["type"] == "extra_forbidden":
            raise ValidationFailed(f"{field}: unknown field", field) from None
        raise ValidationFailed(f"{field}: {error['msg']}", field) from None
