from alembic import context

from services.kernel.database import run_alembic_env
from services.chat.models import Base

run_alembic_env(context, Base.metadata)
