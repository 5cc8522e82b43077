"""One page request: who is asking, the operations they may call, and how pages answer.

A page calls operations by name through :meth:`Page.call`, which applies the same role check
the REST route of that operation applies, so the UI can never show or do more than the API.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from setpoint.api.operations import OperationSpec, operations
from setpoint.core.errors import InvalidArgumentError, PermissionDeniedError, SetpointError
from setpoint.core.names import is_whole

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.datastructures import FormData, QueryParams

    from setpoint.client.local import LocalClient
    from setpoint.governance.tokens import Caller
    from setpoint.server.auth import Authorizer

OPERATIONS: dict[str, tuple[OperationSpec, Callable[..., Any]]] = {
    spec.name: (spec, fn) for spec, fn in operations()
}


@dataclass(kw_only=True)
class Ui:
    """What every page shares: the store, the role checker (None: roles not enforced), the
    templates and the key that signs form tokens."""

    client: LocalClient
    authorizer: Authorizer | None
    tokens_required: bool
    templates: Environment
    form_key: bytes


@dataclass(kw_only=True)
class Page:
    ui: Ui
    path: str
    query: QueryParams
    path_params: dict[str, str]
    caller: Caller | None
    session: str  # the token secret of the session ("" without tokens): signs form tokens
    form: FormData | None = None
    notices: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ who

    @property
    def actor(self) -> str | None:
        """The name that stands for the caller in the audit trail: the token's user, or on a
        server without tokens (answering this machine only) the user running it, as the SDK
        and CLI record the user running them."""
        if self.caller is None:
            from setpoint.tracking.environment import current_user

            return current_user()
        return self.caller.user or self.caller.token

    def call(self, operation: str, /, **args: Any) -> Any:
        """Run ``operation`` as the caller, after the role check its REST route does."""
        spec, fn = OPERATIONS[operation]
        self._check(spec, args)
        for key in ("actor", "creator"):
            if key in args and args[key] is None:
                args[key] = self.actor
        return fn(self.ui.client, **args)

    def readable(self, projects: list[Any]) -> list[str] | None:
        """None when the caller may read every project, else the names of those they may
        read (for a search over "all projects" that a scoped role can still make)."""
        if self.may("search_runs", project=None):
            return None
        return [pr.name for pr in projects if self.may("search_runs", project=[pr.name])]

    def across(self, operation: str, projects: list[str], /, **args: Any) -> tuple[list[Any], int]:
        """``operation`` (a listing) called for each of ``projects`` and concatenated, with
        how many projects the caller has no role in: one call per project, because a listing
        over every project at once needs a role in all of them."""
        found: list[Any] = []
        hidden = 0
        for project in projects:
            try:
                found.extend(self.call(operation, project=project, **args))
            except PermissionDeniedError:
                hidden += 1
        return found, hidden

    def check(self, operation: str, /, **args: Any) -> None:
        """Raise unless the caller may run ``operation`` with ``args``: for a page that then
        reads the same facts through a faster path than the operation's own."""
        self._check(OPERATIONS[operation][0], args)

    def may(self, operation: str, /, **args: Any) -> bool:
        """Whether the caller's role allows ``operation`` with ``args`` (to show or hide an
        action; the action checks again when it runs)."""
        try:
            self._check(OPERATIONS[operation][0], args)
        except (PermissionDeniedError, SetpointError):
            return False
        return True

    def _check(self, spec: OperationSpec, args: dict[str, Any]) -> None:
        if self.ui.authorizer is None:
            return
        if self.caller is None or self.caller.user is None:
            who = self.caller.token if self.caller else "this session"
            raise PermissionDeniedError(
                f"token {who!r} acts for no user, and this server checks roles", field="token"
            )
        self.ui.authorizer.check(self.caller.user, spec, args)

    # ------------------------------------------------------------ forms

    def form_token(self) -> str:
        """The token a form of this session carries: a form made by another site cannot."""
        return hmac.new(self.ui.form_key, self.session.encode(), "sha256").hexdigest()

    def field(self, name: str, default: str | None = None) -> str:
        """A submitted form field; a missing one without a default is an error naming it."""
        value = self.form.get(name) if self.form is not None else None
        if isinstance(value, str):
            return value.strip()
        if default is not None:
            return default
        raise InvalidArgumentError(f"the form has no {name!r} field", field=name)

    def arg(self, name: str, default: str = "") -> str:
        """A query-string argument."""
        return self.query.get(name, default).strip()

    def int_arg(self, name: str, default: int, low: int = 1, high: int = 10**9) -> int:
        text = self.arg(name)
        if not text:
            return default
        if not is_whole(text) or not low <= int(text) <= high:
            raise InvalidArgumentError(
                f"{name} must be a whole number from {low} to {high}, not {text!r}", field=name
            )
        return int(text)

    def url(self, path: str, **params: Any) -> str:
        """``path`` with the non-empty ``params`` as its query string."""
        kept = {k: v for k, v in params.items() if v not in (None, "", [], ())}
        return path + ("?" + urlencode(kept, doseq=True) if kept else "")

    def with_query(self, **changes: Any) -> str:
        """This page's address with some query arguments changed (None removes one)."""
        merged: dict[str, Any] = {k: self.query.getlist(k) for k in self.query}
        for k, v in changes.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        return self.url(self.path, **merged)
