"""An operator: a staff account logged in to /admin/ through nginx."""

from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.v1 import Account
from users.models import User

PASSWORD = "kodachrome-64"  # tests.v1.sign_up's


class AdminSession:
    """A logged-in admin's browser session, posting forms with their CSRF token."""

    def __init__(self, stack: Stack, account: Account) -> None:
        self.base = f"{stack.api}/admin"
        self.http = requests.Session()
        self.account = account
        self.http.get(f"{self.base}/login/", timeout=10)
        landed = self.post("/login/?next=/admin/", username=account.username, password=PASSWORD)
        assert "Site administration" in landed.text, landed.text[:500]

    def get(self, path: str, **params: Any) -> requests.Response:
        response = self.http.get(f"{self.base}{path}", params=params, timeout=30)
        assert response.status_code == 200, response.text[:500]
        return response

    def post(self, path: str, **data: Any) -> requests.Response:
        """POST a form as the admin's pages do (the CSRF token from the cookie), following the redirect."""
        fields = {"csrfmiddlewaretoken": self.http.cookies["csrftoken"], **data}
        response = self.http.post(
            f"{self.base}{path}", data=fields, headers={"Referer": f"{self.base}/"}, timeout=30
        )
        assert response.status_code == 200, response.text[:500]
        return response


def make_staff(account: Account) -> None:
    # No action makes staff: operators are appointed from a shell (createsuperuser) or the admin.
    User.objects.filter(id=int(account.id)).update(is_staff=True, is_superuser=True)


@pytest.fixture
def operator(signup: Any) -> Account:
    account: Account = signup("op")
    make_staff(account)
    return account


@pytest.fixture
def admin(healthy_stack: Stack, operator: Account) -> AdminSession:
    return AdminSession(healthy_stack, operator)
