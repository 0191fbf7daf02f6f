"""quizzes and submissions

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "quizzes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("course_id", sa.String(36), nullable=False, index=True),
        sa.Column("instructor_id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("passing_score", sa.Float, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=True),
        sa.Column("questions", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("quiz_id", sa.String(36), sa.ForeignKey("quizzes.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("quiz_id", "user_id", "attempt", name="uq_submission_quiz_user_attempt"),
    )


def downgrade():
    for table in ("submissions", "quizzes"):
        op.drop_table(table)
