from tests.moderation.conftest import admin, operator

__all__ = ["admin", "operator"]
