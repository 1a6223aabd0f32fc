"""The one HTTP client every provider's API calls go through.

It owns retries (429 with ``Retry-After`` or the provider's own hint, 5xx,
dropped connections, timeouts), never follows redirects (a redirect usually leads to
storage that must not see the provider's credentials), and turns an error answer
into a :class:`ProviderError` that names the provider and quotes its message.
Providers subclass it to say how they authenticate and how their errors read.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from tap_exports.engine.retry import RETRYABLE_STATUSES, configured_limits, retry_delay
from tap_exports.engine.signals import pause
from tap_exports.errors import ExportGoneError, ProviderError, redact
from tap_exports.retry_limits import RetryLimits

LOGGER = logging.getLogger("tap_exports.http")
USER_AGENT = "tap-exports/0.1 (+https://github.com/tap-exports/tap-exports)"
#: Failures of the transport rather than answers: the request may or may not have been
#: processed, so it is sent again (a repeated create adopts the export the first one made).
TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def segment(value: object) -> str:
    """``value`` as one path segment: an id an API handed out (``../admin``, ``a?b=1``)
    must not reach another path or add a query."""
    return quote(str(value), safe="")


class ApiClient:
    """A provider's API: base URL, authentication, retries and error reading."""

    provider = "provider"
    #: Connect and read timeouts in seconds; a hung answer counts as a dropped connection.
    timeout: tuple[float, float] = (10.0, 60.0)

    def __init__(
        self,
        base_url: str,
        *,
        auth: requests.auth.AuthBase | None = None,
        secrets: tuple[str, ...] = (),
        max_tries: int | None = None,
        limits: RetryLimits | None = None,
        timeout: tuple[float, float] | None = None,
        sleep: Callable[[float], None] = pause,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secrets = secrets
        self.limits = limits or configured_limits()
        if max_tries is not None:
            self.limits = dataclasses.replace(self.limits, max_tries=max_tries)
        if timeout is not None:
            self.timeout = timeout
        self.sleep = sleep
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers["User-Agent"] = USER_AGENT

    # Hooks a provider overrides -------------------------------------------------

    def error_message(self, response: requests.Response) -> str:
        """The provider's own words for an error answer (never the request)."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:300] or response.reason
        if isinstance(body, Mapping):
            for key in ("message", "error_message", "errorMessage", "error", "replyText"):
                if body.get(key):
                    return str(body[key])
        return str(body)[:300]

    def retry_hint(self, response: requests.Response) -> float | None:
        """Seconds the provider asks us to wait, when it says so outside ``Retry-After``."""
        return None

    def is_error(self, response: requests.Response) -> bool:
        """Whether an answer with an accepted status is still a failure, by its body.

        Some providers (Emarsys) report application errors inside HTTP 200; such an
        answer then goes through :meth:`is_retryable` and :meth:`error` like any other.
        """
        return False

    def is_retryable(self, response: requests.Response) -> bool:
        """Whether an answer is a transient failure worth retrying."""
        return response.status_code in RETRYABLE_STATUSES

    def hint_for(self, status_code: int) -> str | None:
        """What the user should do about a non-retryable error status."""
        if status_code in {401, 403}:
            return "check the provider's credentials and their permissions"
        if status_code == 404:
            return "check the base_url setting and that the object still exists"
        return None

    @property
    def max_tries(self) -> int:
        """Attempts per call, the first one included."""
        return self.limits.max_tries

    # Requests -------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Absolute URL for an API path (absolute URLs pass through)."""
        return path if urlsplit(path).scheme else f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        accept: Collection[int] = (200, 201, 202),
        export_id: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request, retrying transient failures; raise on any status not in ``accept``."""
        url = self.url(path)
        where = f"{method} {urlsplit(url).path}"
        kwargs.setdefault("timeout", self.timeout)
        waited = 0.0
        for attempt in range(1, self.max_tries + 1):
            response: requests.Response | None = None
            try:
                response = self.session.request(method, url, allow_redirects=False, **kwargs)
            except requests.exceptions.SSLError as exc:
                # Not transient: the same certificate fails every time.
                raise ProviderError(
                    self.provider,
                    f"{where}: the server's TLS certificate could not be verified "
                    f"({redact(str(exc), self.secrets)})",
                    export_id=export_id,
                    hint="check base_url; certificates are always verified, so a private CA "
                    "must be trusted by the system (or REQUESTS_CA_BUNDLE)",
                ) from None
            except TRANSIENT_ERRORS as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.status_code in accept and not self.is_error(response):
                    return response
                if not self.is_retryable(response):
                    raise self.error(response, where, export_id=export_id)
                problem = f"HTTP {response.status_code}"
            if attempt == self.max_tries:
                if response is not None:
                    raise self.error(response, where, export_id=export_id)
                raise ProviderError(
                    self.provider,
                    f"{where} failed after {attempt} attempts ({problem})",
                    export_id=export_id,
                    hint="the provider could not be reached; check the network and base_url",
                )
            delay = retry_delay(
                response,
                attempt,
                provider_hint=self.retry_hint,
                max_wait=self.limits.max_wait_seconds,
            )
            if waited + delay > self.limits.max_total_seconds:
                raise ProviderError(
                    self.provider,
                    f"{where} still failing ({problem}) after {attempt} attempts and "
                    f"{waited:.0f} s of waiting; the next wait ({delay:.0f} s) would pass "
                    f"max_retry_total_seconds ({self.limits.max_total_seconds:g})",
                    export_id=export_id,
                    hint="run again later, or raise max_retry_total_seconds",
                )
            waited += delay
            LOGGER.warning(
                "%s: %s on %s, retrying in %.1f s (attempt %d of %d)",
                self.provider,
                problem,
                where,
                delay,
                attempt,
                self.max_tries,
            )
            self.sleep(delay)
        msg = "unreachable: the retry loop always returns or raises"
        raise AssertionError(msg)

    def error(
        self, response: requests.Response, where: str, *, export_id: str | None = None
    ) -> ProviderError:
        """A :class:`ProviderError` quoting the provider's message for ``response``."""
        message = redact(self.error_message(response), self.secrets)
        return ProviderError(
            self.provider,
            f"HTTP {response.status_code} on {where}: {message}",
            export_id=export_id,
            hint=self.hint_for(response.status_code),
        )

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send a request and decode the JSON object it answers."""
        response = self.request(method, path, **kwargs)
        return self.body(response, export_id=kwargs.get("export_id"))

    def body(self, response: requests.Response, *, export_id: str | None = None) -> dict[str, Any]:
        """The JSON object of an accepted answer; anything else (an HTML page from a proxy,
        an empty body, a list) is an error naming the call, not a ``KeyError`` later."""
        try:
            decoded = response.json() if response.content else None
        except ValueError:
            decoded = ...
        if isinstance(decoded, dict):
            return decoded
        if decoded is None:
            what = "an empty body"
        elif decoded is ...:
            page = response.text.lstrip()[:15].lower()
            what = "an HTML page" if page.startswith(("<!doctype", "<html")) else "no JSON"
        else:
            what = f"a JSON {type(decoded).__name__}"
        raise ProviderError(
            self.provider,
            f"{response.request.method} {urlsplit(response.url).path} answered HTTP "
            f"{response.status_code} with {what} where a JSON object was expected",
            export_id=export_id,
            hint="check base_url: it may lead to another service or a proxy; the export "
            "stays in state, so the next run resumes it",
        )

    def redirect_location(self, path: str, *, export_id: str | None = None, **kwargs: Any) -> str:
        """Ask for a download link the provider hands out as a 30x redirect."""
        response = self.request(
            "GET", path, accept=(301, 302, 303, 307, 308), export_id=export_id, **kwargs
        )
        location = response.headers.get("Location")
        if not location:
            raise ProviderError(
                self.provider,
                f"the download redirect for {urlsplit(response.url).path} has no Location",
                export_id=export_id,
            )
        return requests.compat.urljoin(response.url, location)

    def get_export(
        self,
        path: str,
        *,
        export_id: str,
        gone: str,
        gone_statuses: Collection[int] = (404,),
        **kwargs: Any,
    ) -> requests.Response:
        """GET an export; a 404 (or what else ``gone_statuses`` lists) means the provider
        dropped it, which the engine answers by creating it again, so it raises
        :class:`ExportGoneError` saying ``gone``."""
        accept = (200, *gone_statuses)
        response = self.request("GET", path, accept=accept, export_id=export_id, **kwargs)
        if response.status_code in gone_statuses:
            raise ExportGoneError(self.provider, gone, export_id=export_id)
        return response

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()
