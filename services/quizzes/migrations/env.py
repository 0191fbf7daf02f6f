from alembic import context

from services.kernel.database import run_alembic_env
from services.quizzes.models import Base

run_alembic_env(context, Base.metadata)
