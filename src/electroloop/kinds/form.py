"""A kind's section of the technician's campaign form.

Prefect renders a flow's pydantic parameters as a form; the campaign form
(`workflows.deployments.CampaignForm`) holds the fields every campaign has and one section per
kind that brings one (`Kind.form`). A section's fields start empty, which keeps the campaign
file's values; `apply` puts what the technician filled in into the campaign's data.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from electroloop.errors import ConfigError

__all__ = ["KindForm", "empty_is_the_files", "override_of"]


class KindForm(BaseModel, ABC):
    """One kind's fields in the campaign form; empty fields keep the campaign file's values.
    Each kind's section says how its answers enter a campaign (`apply`)."""

    @abstractmethod
    def apply(self, data: dict[str, Any], kind: str) -> dict[str, Any]:
        """The campaign's data (its file's, of kind `kind`) with this section's answers in;
        `ConfigError` naming the field for an answer that the file's kind cannot take."""

    def answers(self, kind: str, own: str, section: str, what: str) -> dict[str, Any]:
        """The fields filled in; `ConfigError` naming them if the file's `kind` is not this
        section's `own` kind (`what` says what only that kind has, e.g. "cells")."""
        filled = {name: value for name, value in self if value is not None}
        if filled and kind != own:
            named = ", ".join(f"{own}.{name}" for name in filled)
            raise ConfigError(
                f"{named}: only {_a(own)} {own} campaign file has {what}, this one is {kind!r}; "
                f"leave the {section} section empty or choose {_a(own)} {own} campaign file"
            )
        return filled


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def empty_is_the_files(schema: dict[str, Any]) -> None:
    """Show an optional value as one plain box whose empty value means None.

    Pydantic writes `int | None` as anyOf [integer, null] with default null, which Prefect's UI
    shows as 'int | None' tabs. Without the null branch and the default the box starts empty;
    Prefect's server still accepts null for a property without a default, and checks the bounds.
    """
    variants = schema.pop("anyOf", [])
    schema.pop("default", None)
    for variant in variants:
        if variant.get("type") != "null":
            schema.update(variant)


def override_of(model: type[BaseModel], name: str, title: str) -> tuple[Any, FieldInfo]:
    """A form field that overrides `model`'s field `name`: its type, bounds and description
    (the form refuses what the campaign would), empty by default (the file's value)."""
    field = model.model_fields[name]
    info = copy.copy(field)
    info.default = None
    info.title = title
    info.description = f"{field.description} (empty: the campaign file's)"
    info.json_schema_extra = empty_is_the_files
    return field.annotation | None, info
