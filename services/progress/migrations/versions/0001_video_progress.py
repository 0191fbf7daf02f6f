"""video progress per (student, video)

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
        "video_progress",
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("video_id", sa.String(36), primary_key=True),
        sa.Column("course_id", sa.String(36), nullable=False),
        sa.Column("watched_seconds", sa.Float, nullable=False),
        sa.Column("last_position", sa.Float, nullable=False),
        sa.Column("position_reported_at", sa.Float, nullable=False),
        sa.Column("percent_complete", sa.Float, nullable=False),
        sa.Column("completed", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_video_progress_course_user", "video_progress", ["course_id", "user_id"])


def downgrade():
    op.drop_index("ix_video_progress_course_user", "video_progress")
    op.drop_table("video_progress")
