from django.conf import settings
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def create_mobile_client(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Register the first-party app whose sign-up and log-in endpoints hand out tokens."""
    application = apps.get_model("oauth2_provider", "Application")
    application.objects.using(schema_editor.connection.alias).get_or_create(
        client_id=settings.MOBILE_CLIENT_ID,
        defaults={
            "name": "Instagram for iPhone",
            "client_type": "public",
            "authorization_grant_type": "password",
            "skip_authorization": True,
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_profile_fields"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [migrations.RunPython(create_mobile_client, migrations.RunPython.noop)]
