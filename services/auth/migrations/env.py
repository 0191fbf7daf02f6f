from alembic import context

from services.auth.models import Base
from services.kernel.database import run_alembic_env

run_alembic_env(context, Base.metadata)
