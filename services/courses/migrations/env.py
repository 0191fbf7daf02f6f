from alembic import context

from services.courses.models import Base
from services.kernel.database import run_alembic_env

run_alembic_env(context, Base.metadata)
