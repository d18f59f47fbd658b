import pytest
import requests

from tests.conftest import Stack
from tests.v1 import Account, sign_up


@pytest.fixture
def signup(healthy_stack: Stack, http: requests.Session):  # type: ignore[no-untyped-def]
    """Make accounts: signup("alice"), signup("carol", private=True)."""

    def make(prefix: str, *, private: bool = False) -> Account:
        account = sign_up(healthy_stack.api, http, prefix=prefix)
        if private:
            response = account.post("accounts/edit", is_private="true")
            assert response.status_code == 200, response.text
        return account

    return make
