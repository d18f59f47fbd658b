"""The admin's locations: named places, with the foursquare and Facebook ids clients look them up by."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from photos import geo
from photos.models import Location

FIELDS = ("name", "latitude", "longitude", "foursquare_v2_id", "foursquare_id", "facebook_places_id")


class LocationForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Location
        fields = FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        latitude, longitude = cleaned.get("latitude"), cleaned.get("longitude")
        if latitude is not None and longitude is not None:
            try:
                geo.validate_point(latitude, longitude)
            except ValueError as exc:
                raise ValidationError(f"{str(exc).capitalize()}.") from None
        if cleaned.get("foursquare_v2_id"):  # foursquare prints them in lower case
            cleaned["foursquare_v2_id"] = cleaned["foursquare_v2_id"].lower()
        return cleaned


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = LocationForm
    list_display = FIELDS
    search_fields = ["name", "=foursquare_v2_id", "=foursquare_id", "=facebook_places_id"]
    fields = FIELDS

    def save_model(self, request: HttpRequest, obj: Location, form: Any, change: bool) -> None:
        """Save the place, then put its point in the geo index (a moved place moves there too)."""
        super().save_model(request, obj, form, change)
        transaction.on_commit(
            lambda: geo.index_location(location_id=obj.id, latitude=obj.latitude, longitude=obj.longitude),
            using="default",
        )
