"""Which value identifies an account, per connection, and the rules that keep it stable.

A connection's settings say where the **account identifier** comes from:

* ``id_source = "native"`` (default): the billing system's own customer id. Two
  connections whose customers carry the same id (a Recurly account code that is the
  tenant id, a Chargebee customer id chosen by the merchant) become one Account.
* ``id_source = "custom-field"`` with ``id_object = "account"`` and ``id_field``: a custom
  field on the customer (``cf_tenant_id`` on Chargebee, a Zoho custom field …).
* ``id_source = "custom-field"`` with ``id_object = "subscription"``: a custom field on
  the customer's **subscriptions** (the tenant id lives on the subscription).

Rules (enforced by :mod:`desktop.sync.writer`):

* an identifier never changes: a source record whose identifier differs from the one
  stored for it is a Sync error and is not written (never re-keyed, never duplicated);
* an account whose identifier is not known yet — the custom field is empty, or (for
  subscription-held identifiers) none of its subscriptions carries the field yet — is
  **not** turned into an Account. It is parked as a *pending account* and imported as
  soon as an identifier appears: at the end of every run the engine looks again at the
  subscriptions stored for it. Parking is counted in the run's details, not as a Sync
  error, because a customer with no subscription yet is normal;
* when an account's subscriptions carry *different* values, the value of its oldest
  subscription (earliest ``started_at``, then ``created_at``, then source id) wins and
  the disagreement is reported as a Sync error on the subscriptions that differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from desktop.errors import ConfigurationError
from desktop.sync.records import AccountRecord, SubscriptionRecord

ID_SOURCES: Final[tuple[str, ...]] = ("native", "custom-field")
ID_OBJECTS: Final[tuple[str, ...]] = ("account", "subscription")


def _lookup(fields: dict[str, str], name: str) -> str | None:
    """A custom field's value by name: exact, then ignoring case and a ``cf_`` prefix."""
    value = fields.get(name)
    if value is None:
        wanted = name.lower().removeprefix("cf_")
        for key, candidate in fields.items():
            if key.lower().removeprefix("cf_") == wanted:
                value = candidate
                break
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class IdentityRule:
    """Where one connection's account identifiers come from.

    Attributes:
        source: ``native`` or ``custom-field``.
        object_name: for custom fields, ``account`` or ``subscription``.
        field_name: for custom fields, the field's name as the source names it.
    """

    source: Literal["native", "custom-field"] = "native"
    object_name: Literal["account", "subscription"] | None = None
    field_name: str | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> IdentityRule:
        """Reads ``id_source``, ``id_object`` and ``id_field`` from a connection's settings.

        Raises:
            ConfigurationError: naming the missing or invalid value.
        """
        source = str(settings.get("id_source") or "native").strip().lower()
        if source == "native":
            return cls()
        if source != "custom-field":
            raise ConfigurationError(
                f"The account identifier source {source!r} is not known; use native or "
                "custom-field."
            )
        obj = str(settings.get("id_object") or "").strip().lower()
        if obj not in ID_OBJECTS:
            raise ConfigurationError(
                "A custom-field account identifier needs --id-object account or "
                "--id-object subscription."
            )
        name = str(settings.get("id_field") or "").strip()
        if not name:
            raise ConfigurationError(
                "A custom-field account identifier needs --id-field naming the field."
            )
        return cls("custom-field", "subscription" if obj == "subscription" else "account", name)

    def to_settings(self) -> dict[str, str]:
        """The settings keys describing this rule."""
        if self.source == "native":
            return {"id_source": "native"}
        return {
            "id_source": self.source,
            "id_object": self.object_name or "account",
            "id_field": self.field_name or "",
        }

    @property
    def held_by_subscription(self) -> bool:
        """Whether identifiers come from the subscriptions' custom field."""
        return self.source == "custom-field" and self.object_name == "subscription"

    def describe(self) -> str:
        """A phrase for lists and messages ("the subscription field cf_tenant_id")."""
        if self.source == "native":
            return "the billing system's own id"
        return f"the {self.object_name} field {self.field_name}"

    def account_identifier(self, record: AccountRecord) -> str | None:
        """The identifier an account record carries itself (``None``: not on the record)."""
        if self.source == "native":
            return record.source_id.strip() or None
        if self.object_name == "account" and self.field_name:
            return _lookup(record.custom_fields, self.field_name)
        return None

    def subscription_identifier(self, record: SubscriptionRecord) -> str | None:
        """The account identifier a subscription carries (only for subscription-held ids)."""
        if not self.held_by_subscription or not self.field_name:
            return None
        return _lookup(record.custom_fields, self.field_name)


def identifier_changed_reason(kind: str, source_id: str, old: str, new: str | None) -> str:
    """The Sync error sentence for an identifier that changed at the source."""
    shown = repr(new) if new else "nothing"
    return (
        f"The {kind} {source_id} now carries the account identifier {shown} instead of "
        f"{old!r}; identifiers never change in Billbridge, so this record was not updated. "
        "Restore the original value at the source, or remove and re-add the connection."
    )
