from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.actions import check_register_client
from users.models import User


class Command(BaseCommand):
    help = (
        "Register a third-party app for /oauth/authorize (code and implicit flows) and print its "
        "client_id and client_secret. The secret is stored hashed: this is the only time it is shown."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="the app's name, shown on the consent page")
        parser.add_argument("--redirect-uri", required=True, help="the one redirect URI, matched exactly")
        parser.add_argument(
            "--trusted", action="store_true", help="also allow grant_type=password (first-party apps only)"
        )
        parser.add_argument(
            "--enforce-signed-requests",
            action="store_true",
            help="refuse its calls unless signed with the secret (sig or X-Insta-Forwarded-For)",
        )
        parser.add_argument("--user", help="username of the app's owner")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = None
        if options["user"]:
            owner = User.objects.filter(username=options["user"]).first()
            if owner is None:
                raise CommandError(f"no user named {options['user']}")
        try:
            application, secret = check_register_client(
                name=options["name"],
                redirect_uri=options["redirect_uri"],
                trusted=options["trusted"],
                enforce_signed_requests=options["enforce_signed_requests"],
                owner=owner,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(problems) from None
        self.stdout.write(f"client_id: {application.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write("The secret is stored hashed: keep it now, it cannot be shown again.")
