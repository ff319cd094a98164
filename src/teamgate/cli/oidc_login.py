"""What `taco` and `torc` share for signing in through the server's identity provider:
the login options, choosing the flow (browser or device code), the prompts, checking that the
server accepts the new ID token, and saving, showing and forgetting the sign-in."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from teamgate.client.oidc import DeviceCode, OidcConfig
    from teamgate.client.oidc_sessions import Session, SessionStore

F = TypeVar("F", bound=Callable[..., Any])

LOGIN_HELP = """\
With the server's identity provider (OpenID Connect): by default the authorization code flow
with PKCE, opening a browser where there is one (a redirect to a listener on 127.0.0.1); with
--device, or where there is no display (an SSH session), the device flow: open the URL it
prints on any device and enter the code. The sign-in is saved for this server (mode 0600) and
renewed with the refresh token when it expires."""


def login_options(f: F) -> F:
    """`--device`, `--no-browser` and `--timeout` for an identity-provider sign-in."""
    f = click.option(
        "--timeout",
        type=click.IntRange(10, 3600),
        default=300,
        show_default=True,
        help="Seconds to wait for the sign-in to finish.",
    )(f)
    f = click.option(
        "--no-browser",
        is_flag=True,
        help="Print the sign-in URL instead of opening a browser (open it on this machine).",
    )(f)
    return click.option(
        "--device",
        is_flag=True,
        help="Sign in with a code shown here, on any device (the device flow).",
    )(f)


def has_display() -> bool:
    """Whether a browser can be opened here: macOS and Windows, an X or Wayland display, or a
    browser command in $BROWSER; not an SSH session without a display."""
    if sys.platform in ("darwin", "win32"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"))


def server_config(root: str) -> OidcConfig | None:
    """The server's identity provider (`GET /v1/auth/config`), None when it has none."""
    from teamgate.client.http import ApiError
    from teamgate.client.oidc import OidcConfig
    from teamgate.client.taco import TacoClient

    with TacoClient(root) as client:
        try:
            answer = client.get("/v1/auth/config")
        except ApiError as exc:
            if exc.status == 404:  # a server from before identity providers
                return None
            raise
    return OidcConfig.from_answer(answer)


def _say(text: str) -> None:
    click.echo(text, err=True)


def _show_device(device: DeviceCode) -> None:
    _say(f"To sign in, open {device.verification_uri} in a browser and enter the code:")
    _say(f"\n    {device.user_code}\n")
    if device.verification_uri_complete:
        _say(f"(or open {device.verification_uri_complete})")
    _say("Waiting for the sign-in to be approved…")


def _open_or_print(no_browser: bool) -> Callable[[str], None]:
    def show(url: str) -> None:
        if not no_browser:
            import webbrowser

            _say("Opening a browser to sign in at the identity provider…")
            try:
                opened = webbrowser.open(url)
            except webbrowser.Error:
                opened = False
            if opened:
                _say(f"If no browser opened, open this URL:\n\n    {url}\n")
                return
        _say(f"Open this URL in a browser on this machine to sign in:\n\n    {url}\n")
        _say("Waiting for the sign-in…")

    return show


def sign_in(
    cli: str,
    server: str,
    store: SessionStore,
    *,
    device: bool,
    no_browser: bool,
    timeout: float,
    config: OidcConfig | None = None,
) -> tuple[Session, dict[str, Any]]:
    """Sign in at the server's IdP, check that the server accepts the ID token, save the
    sign-in; the session and the server's `/v1/auth/me` answer."""
    from dataclasses import replace

    from teamgate.client.http import ApiError
    from teamgate.client.oidc import IdP, SignInError, code_flow, device_flow
    from teamgate.client.oidc_sessions import Session, server_key
    from teamgate.client.taco import TacoClient

    root = server_key(server)
    config = config or server_config(root)
    if config is None:
        raise SignInError(f"{root} has no identity provider (its /v1/auth/config names none)")
    with IdP(config.issuer) as idp:
        if device or (not no_browser and not has_display()):
            tokens = device_flow(idp, config, show=_show_device, timeout=timeout)
        else:
            tokens = code_flow(idp, config, show=_open_or_print(no_browser), timeout=timeout)
    session = Session.of(tokens, issuer=config.issuer, client_id=config.client_id)
    with TacoClient(root, headers={"Authorization": f"Bearer {session.id_token}"}) as client:
        try:
            me = client.whoami()
        except ApiError as exc:
            raise SignInError(
                f"signed in at the identity provider, but {root} refused the ID token: {exc}"
            ) from None
    user = me.get("user") if isinstance(me, dict) else None
    if not user:
        raise SignInError(f"signed in at the identity provider, but {root} saw no user")
    session = replace(session, user=str(user))
    store.save(root, session)
    return session, me


def forget(store: SessionStore, server: str) -> Session | None:
    """Forget the sign-in saved for `server`, revoking its refresh token at the IdP where the
    IdP can (best effort: an unreachable IdP does not keep anyone signed in)."""
    from teamgate.client.oidc import IdP, SignInError

    session = store.remove(server)
    if session is not None and session.refresh_token:
        try:
            with IdP(session.issuer) as idp:
                idp.revoke(session.refresh_token, session.client_id)
        except SignInError as exc:
            _say(f"Warning: could not revoke the refresh token at the identity provider: {exc}")
    return session


def expiry_text(value: Any) -> str:
    """`2026-12-07 15:04:05 UTC (in 4 min)` from epoch seconds or an ISO timestamp."""
    if value is None or value == "":
        return "never"
    try:
        when = (
            datetime.fromtimestamp(float(value), UTC)
            if isinstance(value, int | float)
            else datetime.fromisoformat(str(value))
        )
    except (ValueError, OverflowError, OSError):
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    left = (when - datetime.now(UTC)).total_seconds()
    if left <= 0:
        span = "expired"
    elif left < 3600:
        span = f"in {max(1, round(left / 60))} min"
    elif left < 172800:
        span = f"in {left / 3600:.1f} h"
    else:
        span = f"in {round(left / 86400)} days"
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({span})"


def whoami_lines(me: dict[str, Any], session: Session | None) -> list[str]:
    """The lines both CLIs' `whoami` print for the identity the server saw."""
    lines = [f"User: {me['user']}"]
    how = str(me.get("auth"))
    if how == "oidc" and session is not None:
        how = f"oidc (identity provider {session.issuer})"
    lines.append(f"Authenticated with: {how}")
    groups = me.get("idp_groups")
    if me.get("auth") == "oidc" or groups:
        lines.append(f"Groups: {', '.join(groups) if groups else '-'}")
    lines.append(f"System administrator: {'yes' if me.get('system_admin') else 'no'}")
    expires = me.get("expires_at")
    if expires is None and me.get("auth") == "oidc" and session is not None:
        expires = session.expires_at
    if expires is not None or me.get("auth") in ("oidc", "token"):
        text = expiry_text(expires)
        if me.get("auth") == "oidc" and session and session.refresh_token and text[-1] == ")":
            text = f"{text[:-1]}; renewed with the refresh token)"
        lines.append(f"Expires: {text}")
    return lines
