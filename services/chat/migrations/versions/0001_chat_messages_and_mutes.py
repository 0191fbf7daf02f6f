"""chat messages per video, mutes per course

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
        "chat_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("video_id", sa.String(36), nullable=False),
        sa.Column("course_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("timestamp", sa.String(40), nullable=False),
        sa.Column("client_timestamp", sa.JSON, nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.String(36), nullable=True),
    )
    op.create_index("ix_chat_messages_video_id_id", "chat_messages", ["video_id", "id"])
    op.create_table(
        "chat_mutes",
        sa.Column("course_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("muted_by", sa.String(36), nullable=False),
        sa.Column("version", sa.Float, nullable=False),
    )


def downgrade():
    op.drop_table("chat_mutes")
    op.drop_index("ix_chat_messages_video_id_id", "chat_messages")
    op.drop_table("chat_messages")
