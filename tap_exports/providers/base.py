"""What each provider package exposes to the tap: its typed settings, their checks, its streams."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from singer_sdk import Stream
from singer_sdk import typing as th

from tap_exports.settings import http_url, read_settings, sets_anything

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from tap_exports.tap import TapExports

SettingsT = TypeVar("SettingsT", bound="DataclassInstance")


class Provider(ABC, Generic[SettingsT]):
    """A provider's entry in the tap.

    Its streams are discovered only when its credentials are set, so one tap
    configuration can name any subset of the providers.
    """

    #: Settings object name and stream-name prefix, e.g. ``mailgun``.
    key: str
    #: Human name used in logs and errors, e.g. ``Mailgun``.
    title: str
    #: Settings inside the provider's object whose presence means "use this provider".
    credentials: tuple[str, ...]
    #: Settings inside the provider's object that are URLs.
    url_settings: tuple[str, ...] = ("base_url",)
    #: The dataclass the provider's section is read into (defaults included).
    settings_type: type[SettingsT]
    #: The properties of the provider's settings object, as Meltano and ``--about`` show them.
    properties: th.PropertiesList

    def settings_property(self) -> th.Property[Any]:
        """The provider's settings as one nested object property."""
        return th.Property(
            self.key,
            th.ObjectType(*self.properties.wrapped.values()),
            description=f"{self.title} settings; its streams are discovered when "
            f"{' and '.join(f'{self.key}.{name}' for name in self.credentials)} "
            f"{'is' if len(self.credentials) == 1 else 'are'} set.",
        )

    def section(self, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """The provider's settings object (empty when absent)."""
        value = config.get(self.key)
        return value if isinstance(value, Mapping) else {}

    def settings(self, config: Mapping[str, Any]) -> SettingsT:
        """The provider's settings, defaults filled in."""
        return read_settings(self.settings_type, self.section(config))

    def configured(self, config: Mapping[str, Any]) -> bool:
        """True when any of the provider's settings is given a value of its own."""
        return sets_anything(self.section(config), self.properties.to_dict()["properties"])

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        """Errors in this provider's settings, each starting with the dotted setting name."""
        section = self.section(config)
        errors = [
            f"{self.key}.{name}: required when {self.key} is configured"
            for name in self.credentials
            if not section.get(name)
        ]
        plain_ok = bool(config.get("allow_plain_http"))
        for name in self.url_settings:
            if section.get(name) is not None:
                http_url(section[name], f"{self.key}.{name}", errors, plain_ok=plain_ok)
        return errors + self.check(self.settings(config))

    def check(self, settings: SettingsT) -> list[str]:
        """Provider-specific checks beyond credentials and URLs."""
        return []

    @abstractmethod
    def streams(self, tap: TapExports) -> Sequence[Stream]:
        """The provider's streams for this configuration."""
