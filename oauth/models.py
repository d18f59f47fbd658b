from django.db import models
from oauth2_provider.models import Application


class ClientPolicy(models.Model):
    """What a registered app may do beyond its DOT grant type, as Instagram's client settings had it.

    An Application without a policy row has the defaults: not trusted, implicit
    flow allowed. See oauth/validators.py for how the flags are read.
    """

    application = models.OneToOneField(
        Application, on_delete=models.CASCADE, primary_key=True, related_name="policy"
    )
    trusted = models.BooleanField(
        default=False,
        help_text="May exchange a user's password for a token (grant_type=password): first-party "
        "and partner apps only.",
    )
    implicit_disabled = models.BooleanField(
        default=False,
        verbose_name="disable implicit OAuth",
        help_text="Refuse the client-side flow (response_type=token); only the server-side flow "
        "(response_type=code with the client secret) is allowed.",
    )

    enforce_signed_requests = models.BooleanField(
        default=False,
        help_text="Refuse calls that are not signed with the client secret (sig, HMAC-SHA256 of the "
        "endpoint and its parameters, or the X-Insta-Forwarded-For header): a stolen token is then "
        "useless without the secret.",
    )
    # DOT keeps only a hash of the secret; signatures need the secret itself,
    # so it is kept here too, encrypted with the field-encryption keys
    # (instagram/crypto.py). Empty for an app registered before signing
    # existed: it must be given a new secret before it can enforce signing.
    signing_secret = models.TextField(blank=True, default="", editable=False)

    class Meta:
        db_table = "oauth_client_policy"
        verbose_name_plural = "client policies"

    def __str__(self) -> str:
        return f"policy of {self.application}"
